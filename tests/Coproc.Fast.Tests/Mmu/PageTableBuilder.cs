using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>
/// Test-side driver code: builds multi-level page tables (native-layout.md §4.1) by writing raw 64-bit PTEs into
/// device memory, allocating table pages from a bump pointer. Directory entries are V | W | LOC | PFN.
/// </summary>
internal sealed class PageTableBuilder
{
    private readonly DeviceMemory _memory;
    private readonly MemoryLocation _tableLocation;
    private ulong _next;

    public PageTableBuilder(DeviceMemory memory, MemoryLocation tableLocation, ulong poolOffset)
    {
        _memory = memory;
        _tableLocation = tableLocation;
        _next = poolOffset;
        Root = new PhysicalAddress(tableLocation, AllocateTable());
    }

    public PhysicalAddress Root { get; }

    /// <summary>Table pages allocated so far, root included.</summary>
    public int TablesAllocated { get; private set; }

    public AddressSpaceDescriptor Space(ushort asid = 1, bool faultOnInvalid = false) =>
        AddressSpaceDescriptor.MultiLevel(Root, asid, faultOnInvalid);

    /// <summary>Maps one 4 KiB page (level 0 entry).</summary>
    public void Map(ulong va, PageTableEntry leaf) => SetEntry(va, 0, leaf.Raw);

    /// <summary>Maps <paramref name="pages"/> consecutive 4 KiB pages onto consecutive frames.</summary>
    public void MapRange(ulong va, MemoryLocation location, ulong frame, int pages, bool writable = true, bool privileged = false)
    {
        for (int i = 0; i < pages; i++)
            Map(va + (ulong)i * 4096, PageTableEntry.Create(location, frame + (ulong)i * 4096, writable, privileged));
    }

    /// <summary>Maps one 2 MiB page (level 1 entry with PS).</summary>
    public void MapLarge(ulong va, MemoryLocation location, ulong frame, bool writable = true) =>
        SetEntry(va, 1, PageTableEntry.Create(location, frame, writable, largePage: true).Raw);

    public void Unmap(ulong va) => SetEntry(va, 0, 0);

    /// <summary>Writes a raw entry at <paramref name="level"/> for <paramref name="va"/>, creating the tables above it.</summary>
    public void SetEntry(ulong va, int level, ulong raw) => _memory.Write64(EntryAddress(va, level), raw);

    public ulong GetEntry(ulong va, int level) => _memory.Read64(EntryAddress(va, level));

    /// <summary>Physical address of the entry for <paramref name="va"/> at <paramref name="level"/>, creating tables above it.</summary>
    public PhysicalAddress EntryAddress(ulong va, int level)
    {
        var table = Root;
        for (int l = 3; l > level; l--)
        {
            var at = table.Add((ulong)PageTableLayout.IndexAt(va, l) * 8);
            var e = new PageTableEntry(_memory.Read64(at));
            if (!e.IsValid)
            {
                e = PageTableEntry.Create(_tableLocation, AllocateTable());
                _memory.Write64(at, e.Raw);
            }
            table = new PhysicalAddress(e.Location, e.FrameOffset);
        }
        return table.Add((ulong)PageTableLayout.IndexAt(va, level) * 8);
    }

    private ulong AllocateTable()
    {
        ulong t = _next;
        _next += 4096;
        _memory.GetSpan(new PhysicalAddress(_tableLocation, t), 4096).Clear();
        TablesAllocated++;
        return t;
    }
}
