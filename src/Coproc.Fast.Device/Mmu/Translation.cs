using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>What an access intends to do with the bytes.</summary>
internal enum AccessKind : byte
{
    /// <summary>Read.</summary>
    Read = 0,
    /// <summary>Write.</summary>
    Write = 1,
}

/// <summary>Outcome of a translation. Anything but <see cref="Ok"/> is a page fault for the context.</summary>
internal enum TranslationStatus : byte
{
    /// <summary>Translated (possibly to the dummy page).</summary>
    Ok = 0,
    /// <summary>V = 0, reserved bits, past the flat limit, or a VA above 48 bits, with FaultOnInvalid set.</summary>
    InvalidAddress = 1,
    /// <summary>A write through a read-only mapping.</summary>
    WriteProtected = 2,
    /// <summary>A limited (non-privileged) access touched a privileged page (seed 001 §5.7).</summary>
    PrivilegeViolation = 3,
    /// <summary>A table or leaf frame lies outside its physical memory (a driver bug, reported not crashed).</summary>
    PhysicalOutOfRange = 4,
}

/// <summary>
/// A contiguous physical run that backs [va, va+Length): what copies and fills iterate over, so
/// translation costs once per run, not per byte. <see cref="Location"/> = <see cref="MemoryLocation.Dummy"/>
/// means the dummy page: reads zero, writes discarded, <see cref="PhysicalOffset"/> meaningless.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal readonly struct PageRun(MemoryLocation location, ulong physicalOffset, ulong length)
{
    /// <summary>Where the run lives.</summary>
    public MemoryLocation Location { get; } = location;

    /// <summary>Physical byte offset of the run's first byte.</summary>
    public ulong PhysicalOffset { get; } = physicalOffset;

    /// <summary>Bytes in the run.</summary>
    public ulong Length { get; } = length;

    /// <summary>True for the dummy page.</summary>
    public bool IsDummy => Location == MemoryLocation.Dummy;

    /// <summary>The physical address of the first byte (not for dummy runs).</summary>
    public PhysicalAddress Address => new(Location, PhysicalOffset);

    /// <inheritdoc />
    public override string ToString() => IsDummy ? $"dummy+0x{Length:X}" : $"{Address}+0x{Length:X}";
}
