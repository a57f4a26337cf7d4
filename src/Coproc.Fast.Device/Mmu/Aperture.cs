using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>Outcome of a CPU access through the aperture. Anything but <see cref="Ok"/> is a failed bus transaction.</summary>
/// <remarks>Called by: host, forwarding the guest's accesses to this window; see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum ApertureStatus : byte
{
    /// <summary>The access reached local memory.</summary>
    Ok = 0,
    /// <summary>The offset lies at or past APERTURE_SIZE.</summary>
    OutsideWindow = 1,
    /// <summary>APERTURE_TABLE does not hold a local-memory address, so no aperture page is mapped.</summary>
    TableNotLocal = 2,
    /// <summary>The page is at or past APERTURE_ENTRIES, or its PTE is invalid (V = 0, reserved bits, PS set, LOC not local).</summary>
    NotMapped = 3,
    /// <summary>A write to a page whose PTE has W = 0.</summary>
    ReadOnly = 4,
    /// <summary>The aperture PTE or the frame it names lies outside local memory.</summary>
    PhysicalOutOfRange = 5,
}

/// <summary>
/// The programmable PCI aperture (seed 001 §12; native-layout.md §7.3): a CPU-visible window of
/// <see cref="Size"/> bytes whose own page table — shared by all contexts, independent of theirs, stored in local
/// memory at APERTURE_TABLE, one 64-bit PTE per 4 KiB aperture page — redirects each page to local memory only.
/// Translations are cached in the aperture's own client TLB; a driver that changes an aperture PTE issues
/// TLB_INV_CMD 3. Each access is split per aperture page, each page one bus transaction: a failed page reads as
/// all ones and drops writes, and the first failure's status is returned — never a host exception.
/// </summary>
/// <remarks>Called by: host, forwarding the guest's accesses to this window; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed unsafe class Aperture
{
    /// <summary>ASID that tags aperture translations in the aperture TLB (outside the contexts' 0..4095).</summary>
    internal const ushort TlbAsid = 0xFFFE;

    private readonly DeviceMemory _memory;
    private readonly GpuMmu _mmu;

    internal Aperture(DeviceMemory memory, GpuMmu mmu, ulong sizeBytes)
    {
        _memory = memory;
        _mmu = mmu;
        Size = sizeBytes;
        Tlb = mmu.CreateClientTlb("aperture");
    }

    /// <summary>Host: window size in bytes (APERTURE_SIZE).</summary>
    public ulong Size { get; }

    /// <summary>Host: aperture pages in the window: the most APERTURE_ENTRIES can describe.</summary>
    public ulong PageCount => Size >> PageTableLayout.PageShift;

    /// <summary>Host: the APERTURE_TABLE register as written: encoded physical address of aperture PTE 0.</summary>
    public ulong TableRegister { get; internal set; }

    /// <summary>Host: the APERTURE_ENTRIES register: pages the table describes (writes above <see cref="PageCount"/> are clamped).</summary>
    public uint Entries { get; internal set; }

    /// <summary>The aperture's client TLB (registered with the MMU).</summary>
    internal Tlb Tlb { get; }

    /// <summary>Host: aperture pages whose bus transaction failed (any status but Ok).</summary>
    public long FailedPageAccesses { get; private set; }

    /// <summary>
    /// Translates the aperture offset to the local-memory address behind it, checking the access right.
    /// </summary>
    internal ApertureStatus Translate(ulong apertureOffset, AccessKind access, out PhysicalAddress address)
    {
        address = default;
        ulong page = apertureOffset >> PageTableLayout.PageShift;
        if (apertureOffset >= Size) return ApertureStatus.OutsideWindow;
        if (page >= Entries) return ApertureStatus.NotMapped;
        ulong inPage = apertureOffset & (PageTableLayout.PageSize - 1);
        if (!Tlb.TryLookup(TlbAsid, page, out ulong d))
        {
            var s = WalkTable(page, out d);
            if (s != ApertureStatus.Ok) return s;
        }
        if (access == AccessKind.Write && (d & Tlb.ReadOnlyBit) != 0) return ApertureStatus.ReadOnly;
        address = PhysicalAddress.Local((d & PageTableEntry.FrameMask) + inPage);
        return ApertureStatus.Ok;
    }

    /// <summary>Translates for a read; false when the page is not mapped (see <see cref="Translate"/> for why).</summary>
    internal bool TryTranslate(ulong apertureOffset, out PhysicalAddress address) =>
        Translate(apertureOffset, AccessKind.Read, out address) == ApertureStatus.Ok;

    /// <summary>
    /// Host: CPU read through the aperture. Pages that fail read as all ones (0xFF bytes), as a PCI bus returns for a
    /// failed read; the first failure's status is returned.
    /// </summary>
    public ApertureStatus Read(ulong apertureOffset, Span<byte> destination)
    {
        var first = ApertureStatus.Ok;
        int done = 0;
        while (done < destination.Length)
        {
            ulong at = apertureOffset + (ulong)done;
            int n = ChunkLength(at, destination.Length - done);
            var chunk = destination.Slice(done, n);
            PhysicalAddress pa = default;
            var s = at < apertureOffset ? ApertureStatus.OutsideWindow : Translate(at, AccessKind.Read, out pa);
            if (s == ApertureStatus.Ok) new ReadOnlySpan<byte>(_memory.TryPointer(MemoryLocation.Local, pa.Offset, (ulong)n), n).CopyTo(chunk);
            else { chunk.Fill(0xFF); first = Fail(first, s, at, AccessKind.Read); }
            done += n;
        }
        return first;
    }

    /// <summary>Host: CPU write through the aperture. Pages that fail drop their bytes; the first failure's status is returned.</summary>
    public ApertureStatus Write(ulong apertureOffset, ReadOnlySpan<byte> source)
    {
        var first = ApertureStatus.Ok;
        int done = 0;
        while (done < source.Length)
        {
            ulong at = apertureOffset + (ulong)done;
            int n = ChunkLength(at, source.Length - done);
            PhysicalAddress pa = default;
            var s = at < apertureOffset ? ApertureStatus.OutsideWindow : Translate(at, AccessKind.Write, out pa);
            if (s == ApertureStatus.Ok) source.Slice(done, n).CopyTo(new Span<byte>(_memory.TryPointer(MemoryLocation.Local, pa.Offset, (ulong)n), n));
            else first = Fail(first, s, at, AccessKind.Write);
            done += n;
        }
        return first;
    }

    /// <summary>Host: reads through the aperture; false when any page failed (those bytes read as all ones).</summary>
    public bool TryRead(ulong apertureOffset, Span<byte> destination) => Read(apertureOffset, destination) == ApertureStatus.Ok;

    /// <summary>Host: writes through the aperture; false when any page failed (those bytes were dropped).</summary>
    public bool TryWrite(ulong apertureOffset, ReadOnlySpan<byte> source) => Write(apertureOffset, source) == ApertureStatus.Ok;

    /// <summary>Host: reads a little-endian 32-bit value (all ones on failure).</summary>
    public ApertureStatus Read32(ulong apertureOffset, out uint value)
    {
        uint v = 0;
        var s = Read(apertureOffset, new Span<byte>(&v, 4));
        value = v;
        return s;
    }

    /// <summary>Host: writes a little-endian 32-bit value.</summary>
    public ApertureStatus Write32(ulong apertureOffset, uint value) => Write(apertureOffset, new ReadOnlySpan<byte>(&value, 4));

    /// <summary>Host: drops every cached aperture translation (TLB_INV_CMD 3 and writes to the table registers).</summary>
    internal void FlushTlb() => Tlb.InvalidateAll();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ChunkLength(ulong at, int remaining) =>
        (int)Math.Min((ulong)remaining, PageTableLayout.PageSize - (at & (PageTableLayout.PageSize - 1)));

    // Every failed aperture page is also an MMU fault of the aperture client (native-layout.md §7.5): FAULT_COUNT counts it,
    // FAULT_VA holds the aperture offset, FAULT_INFO the mapped status, the access kind, ASID 0xFFFE and client 0.
    private ApertureStatus Fail(ApertureStatus first, ApertureStatus s, ulong at, AccessKind access)
    {
        FailedPageAccesses++;
        var status = s switch
        {
            ApertureStatus.ReadOnly => TranslationStatus.WriteProtected,
            ApertureStatus.PhysicalOutOfRange => TranslationStatus.PhysicalOutOfRange,
            _ => TranslationStatus.InvalidAddress,
        };
        _mmu.ReportFault(Tlb.ClientId, TlbAsid, at, status, access);
        return first == ApertureStatus.Ok ? s : first;
    }

    private ApertureStatus WalkTable(ulong page, out ulong data)
    {
        data = 0;
        // seed 001 §12: the aperture table is allocated from local (supplemental) memory, located by physical address.
        if (!PhysicalAddress.TryDecode(TableRegister, out var table) || table.Location != MemoryLocation.Local)
            return ApertureStatus.TableNotLocal;
        ulong* pe = (ulong*)_memory.TryPointer(MemoryLocation.Local, table.Offset + page * PageTableLayout.EntrySize, PageTableLayout.EntrySize);
        if (pe == null) return ApertureStatus.PhysicalOutOfRange;
        var e = new PageTableEntry(*pe);
        // seed 001 §12: the aperture redirects only to local memory; LOC = system or dummy is invalid here.
        if (!e.IsValid || e.IsLargePage || e.Location != MemoryLocation.Local) return ApertureStatus.NotMapped;
        if (_memory.TryPointer(MemoryLocation.Local, e.FrameOffset, PageTableLayout.PageSize) == null) return ApertureStatus.PhysicalOutOfRange;
        Tlb.Insert(TlbAsid, page, e.FrameOffset, e.IsWritable, e.IsPrivileged, MemoryLocation.Local);
        data = e.FrameOffset | (e.IsWritable ? 0 : Tlb.ReadOnlyBit) | (e.IsPrivileged ? Tlb.PrivilegedBit : 0);
        return ApertureStatus.Ok;
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        TableRegister = 0;
        Entries = 0;
        FailedPageAccesses = 0;
        Tlb.InvalidateAll();
    }
}
