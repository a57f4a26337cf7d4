using System.Buffers.Binary;
using System.Text;

namespace Coproc.Fast.Driver.Diagnostics.Perfetto;

/// <summary>
/// A growable byte buffer with the protobuf wire encodings the Perfetto writer needs (varint tags and values, fixed64,
/// length-delimited strings and nested messages), so a packet is encoded straight into bytes instead of through an
/// object graph of generated messages.
/// </summary>
/// <remarks>
/// Design: a nested message is encoded into its own <see cref="ProtoBuffer"/> first and copied in behind its length
/// (<see cref="WriteMessage"/>), as protobuf's length prefix needs the size before the bytes. The buffers are reused
/// (<see cref="Clear"/>), so a trace of any length allocates only while they grow.
/// </remarks>
internal sealed class ProtoBuffer
{
    private const int Varint = 0, Fixed64 = 1, LengthDelimited = 2;
    private byte[] _bytes;

    /// <summary>An empty buffer of <paramref name="capacity"/> bytes.</summary>
    public ProtoBuffer(int capacity = 256) => _bytes = new byte[capacity];

    /// <summary>Bytes written.</summary>
    public int Length { get; private set; }

    /// <summary>The bytes written.</summary>
    public ReadOnlySpan<byte> Written => _bytes.AsSpan(0, Length);

    /// <summary>Forgets the bytes written (keeps the storage).</summary>
    public void Clear() => Length = 0;

    /// <summary>An unsigned varint field (uint32, uint64, and non-negative enums).</summary>
    public void WriteUInt64(int field, ulong value)
    {
        WriteTag(field, Varint);
        WriteVarint(value);
    }

    /// <summary>A signed varint field (int32, int64, enums): negative values take ten bytes, as protobuf encodes them.</summary>
    public void WriteInt64(int field, long value) => WriteUInt64(field, (ulong)value);

    /// <summary>A bool field.</summary>
    public void WriteBool(int field, bool value) => WriteUInt64(field, value ? 1UL : 0UL);

    /// <summary>A fixed64 field (little-endian, eight bytes).</summary>
    public void WriteFixed64(int field, ulong value)
    {
        WriteTag(field, Fixed64);
        BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);
        Length += 8;
    }

    /// <summary>A string field (UTF-8).</summary>
    public void WriteString(int field, string value)
    {
        WriteTag(field, LengthDelimited);
        int n = Encoding.UTF8.GetByteCount(value);
        WriteVarint((uint)n);
        Encoding.UTF8.GetBytes(value, Reserve(n));
        Length += n;
    }

    /// <summary>A nested message field whose encoding is <paramref name="message"/>'s bytes.</summary>
    public void WriteMessage(int field, ProtoBuffer message)
    {
        WriteTag(field, LengthDelimited);
        WriteVarint((uint)message.Length);
        message.Written.CopyTo(Reserve(message.Length));
        Length += message.Length;
    }

    private void WriteTag(int field, int wireType) => WriteVarint(((uint)field << 3) | (uint)wireType);

    private void WriteVarint(ulong value)
    {
        var span = Reserve(10);
        int i = 0;
        for (; value >= 0x80; value >>= 7) span[i++] = (byte)(value | 0x80);
        span[i++] = (byte)value;
        Length += i;
    }

    private Span<byte> Reserve(int bytes)
    {
        if (_bytes.Length - Length < bytes) Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + bytes));
        return _bytes.AsSpan(Length, bytes);
    }
}
