namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// CRC-32 (ISO-HDLC / PNG: reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF), table-driven.
/// Written here because <c>System.IO.Hashing</c> is not part of the shared framework and no package is added for it.
/// </summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    /// <summary>Continues a running CRC (start with 0) over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint c = ~crc;
        var table = Table;
        foreach (byte b in data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);
}
