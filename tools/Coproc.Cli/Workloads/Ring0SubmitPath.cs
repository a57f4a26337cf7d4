using System.Runtime.InteropServices;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Workloads;

/// <summary>
/// The ring-0 submission path as it exists today, for PERFORMANCE.md goal 2 (ring 3 vs ring 0): one entry through
/// the <see cref="Ring0Gate"/> (policy Real: one real system call), copy-in of the command buffer, validation of
/// every packet with <see cref="PacketDecoder"/> (structure) plus the limited-buffer privilege rule (seed 001 §7),
/// then a copy into a kernel-owned ring and a write-pointer publish. Everything lives in
/// <see cref="SubmitThroughRing0"/> so the integrator can switch it to the KMD/VidSch path in one place.
/// The kernel ring is drained by nobody: its read pointer follows the write pointer (the consumer's cost is not
/// part of the submit path being compared).
/// </summary>
internal sealed unsafe class Ring0SubmitPath : IDisposable
{
    private readonly Ring0Gate _gate;
    private readonly uint* _ring;
    private readonly uint _ringMask; // in dwords
    private ulong _writeDwords;

    /// <summary>Creates the path with a kernel ring of <paramref name="ringBytes"/> (a power of two).</summary>
    public Ring0SubmitPath(Ring0GatePolicy policy = Ring0GatePolicy.Real, uint ringBytes = 1 << 20)
    {
        if (!uint.IsPow2(ringBytes) || ringBytes < 4096) throw new ArgumentOutOfRangeException(nameof(ringBytes), ringBytes, "expected a power of two ≥ 4096");
        _gate = new Ring0Gate(new Ring0GateOptions { Policy = policy });
        _ring = (uint*)NativeMemory.AlignedAlloc(ringBytes, 4096);
        _ringMask = ringBytes / 4 - 1;
    }

    /// <summary>The gate (entry counts).</summary>
    public Ring0Gate Gate => _gate;

    /// <summary>Submissions accepted.</summary>
    public long Accepted { get; private set; }

    /// <summary>Submissions rejected by validation.</summary>
    public long Rejected { get; private set; }

    /// <summary>
    /// One ring-0 submission of <paramref name="commandBuffer"/> (whole packets) on behalf of
    /// <paramref name="processId"/>. Returns false, writing nothing to the kernel ring, when a packet is malformed
    /// or privileged (the buffer is limited).
    /// </summary>
    public bool SubmitThroughRing0(uint processId, ReadOnlySpan<byte> commandBuffer)
    {
        // seed 001 §3.7: arguments crossing into the kernel are copied in before they are looked at.
        using var call = _gate.Enter(processId, commandBuffer);
        var dwords = MemoryMarshal.Cast<byte, uint>(call.Arguments);
        for (int offset = 0; offset < dwords.Length;)
        {
            if (!PacketDecoder.TryDecode(dwords, offset, out var packet, out _) || OpcodeInfo.IsPrivileged(packet.Opcode))
            {
                Rejected++;
                return false;
            }
            offset += packet.LengthDwords;
        }
        // Validated: copy into the kernel ring (wrapping) and publish.
        ulong w = _writeDwords;
        for (int i = 0; i < dwords.Length; i++) _ring[(uint)(w + (ulong)i) & _ringMask] = dwords[i];
        Volatile.Write(ref _writeDwords, w + (ulong)dwords.Length);
        Accepted++;
        return true;
    }

    /// <summary>A command buffer of <paramref name="bytes"/> (a multiple of 64) made of 16-dword NOP packets.</summary>
    public static byte[] NopCommandBuffer(int bytes)
    {
        if (bytes <= 0 || bytes % 64 != 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "expected a positive multiple of 64");
        var buffer = new byte[bytes];
        var dwords = MemoryMarshal.Cast<byte, uint>(buffer.AsSpan());
        for (int i = 0; i < dwords.Length; i += 16) dwords[i] = PacketHeader.Make(Opcode.Nop, 16);
        return buffer;
    }

    public void Dispose() => NativeMemory.AlignedFree(_ring);
}
