using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>Why the kernel refused a user DMA buffer under enforcement option 1.</summary>
public enum LimitedBufferViolation
{
    /// <summary>A packet the decoder rejects (the walk cannot continue past it).</summary>
    Malformed = 1,
    /// <summary>A privileged opcode (≥ 0x40: context-switch control, flips, register writes, page-table updates).</summary>
    PrivilegedPacket = 2,
    /// <summary>A FENCE with the privileged flag: a physical-address reference (seed 001 §7.1 restriction 1).</summary>
    PhysicalAddress = 3,
    /// <summary>An INDIRECT: only the ring redirects.</summary>
    Indirect = 4,
    /// <summary>Length outside the buffer.</summary>
    BadLength = 5,
}

/// <summary>The kernel refused a user DMA buffer (enforcement option 1); nothing was queued.</summary>
public sealed class LimitedBufferRejectedException(LimitedBufferViolation violation, int dwordOffset)
    : Exception($"user DMA buffer refused: {violation} at dword {dwordOffset} (seed 001 §7.4 option 1)")
{
    /// <summary>What was wrong.</summary>
    public LimitedBufferViolation Violation { get; } = violation;

    /// <summary>Dword offset of the offending packet.</summary>
    public int DwordOffset { get; } = dwordOffset;
}

/// <summary>
/// Enforcement option 1 (seed 001 §7.4): the kernel checks a user-built DMA buffer for <b>privileged instructions
/// only</b> — memory references need no validation because every VA goes through the context's own page table.
/// Allocation-free: walks the packets with <see cref="PacketDecoder"/>.
/// </summary>
public static class LimitedBufferValidator
{
    /// <summary>Returns null when <paramref name="buffer"/> holds only limited packets, else the first violation.</summary>
    public static (LimitedBufferViolation Violation, int Offset)? Check(ReadOnlySpan<uint> buffer)
    {
        for (int at = 0; at < buffer.Length;)
        {
            if (!PacketDecoder.TryDecode(buffer, at, out var p, out _)) return (LimitedBufferViolation.Malformed, at);
            if ((byte)p.Opcode >= 0x40) return (LimitedBufferViolation.PrivilegedPacket, at);
            if (p.Opcode == Opcode.Indirect) return (LimitedBufferViolation.Indirect, at);
            if (p.Opcode == Opcode.Fence && (p.Flags & PacketFormat.FencePrivilegedFlag) != 0) return (LimitedBufferViolation.PhysicalAddress, at);
            at += p.LengthDwords;
        }
        return null;
    }

    /// <summary>Like <see cref="Check"/> but throws <see cref="LimitedBufferRejectedException"/>.</summary>
    public static void Validate(ReadOnlySpan<uint> buffer)
    {
        if (Check(buffer) is { } v) throw new LimitedBufferRejectedException(v.Violation, v.Offset);
    }
}
