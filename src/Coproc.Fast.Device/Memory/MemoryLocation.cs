namespace Coproc.Fast.Device.Memory;

/// <summary>
/// Where a physical page lives. Encoded in bits 62..63 of a <see cref="PhysicalAddress"/> and in
/// bits 3..4 of a page-table entry (see native-layout.md, "Physical addresses" and "Page-table entry").
/// </summary>
/// <remarks>Called by: host (guest RAM, dirty tracking) and guest driver (physical memory, the bytes it has through its mappings); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum MemoryLocation : byte
{
    /// <summary>Device-local video memory (seed 001 "supplemental memory").</summary>
    Local = 0,

    /// <summary>System memory reached over the bus (seed 001 §5.4.1: PCI/AGP pages).</summary>
    System = 1,

    /// <summary>The dummy page: reads return zero, writes are discarded (seed 001 §4.2). Only valid in PTEs.</summary>
    Dummy = 2,
}
