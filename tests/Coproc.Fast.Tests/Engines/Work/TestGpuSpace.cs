using System.Runtime.InteropServices;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines.Work;

/// <summary>
/// A GPU address space for tests: a device, a 4-level page table written into its local memory exactly as
/// native-layout.md §3–§5 describe (the MMU walks it), data pages handed out from local or system memory — by default
/// in a scattered order so surfaces span physically discontiguous page runs.
/// </summary>
internal sealed class TestGpuSpace : IDisposable
{
    private const ulong TableArenaBytes = 1UL << 20; // page tables live in the first MiB of local memory
    private ulong _nextTable;
    private ulong _nextLocal = TableArenaBytes;
    private ulong _nextSystem;
    private readonly List<(MemoryLocation Location, ulong Offset)> _dataFrames = new();

    public TestGpuSpace(bool faultOnInvalid = true, ulong localBytes = 4UL << 20, ulong systemBytes = 2UL << 20)
    {
        Device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = localBytes, SystemMemoryBytes = systemBytes });
        Tlb = new Tlb(64);
        ulong root = AllocTable();
        Descriptor = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(root), asid: 7, faultOnInvalid);
    }

    public Coprocessor Device { get; }
    public Tlb Tlb { get; }
    public AddressSpaceDescriptor Descriptor { get; }
    public GpuVirtualMemory Memory => new(Device.Mmu, Device.Memory, Tlb, Descriptor, privileged: false);

    private ulong AllocTable()
    {
        ulong t = _nextTable;
        _nextTable += 4096;
        if (_nextTable > TableArenaBytes) throw new InvalidOperationException("test page-table arena exhausted");
        return t;
    }

    private ulong AllocData(MemoryLocation location)
    {
        ref ulong next = ref location == MemoryLocation.Local ? ref _nextLocal : ref _nextSystem;
        ulong f = next;
        next += 4096;
        if (next > Device.Memory.SizeOf(location)) throw new InvalidOperationException("test data memory exhausted");
        _dataFrames.Add((location, f));
        return f;
    }

    /// <summary>Maps [va, va + bytes) to fresh zeroed frames; <paramref name="scatter"/> hands them out in a shuffled order.</summary>
    public void Map(ulong va, ulong bytes, MemoryLocation location = MemoryLocation.Local, bool writable = true, bool scatter = true)
    {
        ulong first = va & ~0xFFFUL, pages = (va + bytes - first + 4095) / 4096;
        var frames = new ulong[pages];
        for (ulong i = 0; i < pages; i++) frames[i] = AllocData(location);
        if (scatter && pages >= 2)
            for (ulong i = 0; i + 1 < pages; i += 2) (frames[i], frames[i + 1]) = (frames[i + 1], frames[i]);
        for (ulong i = 0; i < pages; i++)
            SetLeaf(first + i * 4096, PageTableEntry.Create(location, frames[i], writable).Raw);
    }

    /// <summary>Maps pages to the dummy page (reads zero, writes discarded).</summary>
    public void MapDummy(ulong va, ulong bytes)
    {
        for (ulong p = va & ~0xFFFUL; p < va + bytes; p += 4096) SetLeaf(p, PageTableEntry.Dummy.Raw);
    }

    /// <summary>Unmaps pages (PTE = 0) and invalidates the TLB for them.</summary>
    public void Unmap(ulong va, ulong bytes)
    {
        for (ulong p = va & ~0xFFFUL; p < va + bytes; p += 4096) SetLeaf(p, 0);
        Tlb.InvalidateRange(Descriptor.Asid, va, bytes);
    }

    private void SetLeaf(ulong va, ulong pte)
    {
        ulong table = 0; // root
        for (int level = PageTableLayout.Levels - 1; level >= 1; level--)
        {
            var at = PhysicalAddress.Local(table + (ulong)PageTableLayout.IndexAt(va, level) * 8);
            var e = new PageTableEntry(Device.Memory.Read64(at));
            if (!e.IsValid)
            {
                ulong t = AllocTable();
                e = PageTableEntry.Create(MemoryLocation.Local, t);
                Device.Memory.Write64(at, e.Raw);
            }
            table = e.FrameOffset;
        }
        Device.Memory.Write64(PhysicalAddress.Local(table + (ulong)PageTableLayout.IndexAt(va, 0) * 8), pte);
    }

    public byte[] Read(ulong va, int bytes)
    {
        var b = new byte[bytes];
        Assert.That(Memory.Read(va, b, out _), Is.EqualTo(TranslationStatus.Ok));
        return b;
    }

    public uint[] ReadU32(ulong va, int count) => MemoryMarshal.Cast<byte, uint>(Read(va, count * 4)).ToArray();

    public void Write(ulong va, ReadOnlySpan<byte> data) => Assert.That(Memory.Write(va, data, out _), Is.EqualTo(TranslationStatus.Ok));

    public void Write<T>(ulong va, ReadOnlySpan<T> data) where T : unmanaged => Write(va, MemoryMarshal.AsBytes(data));

    /// <summary>Every byte of both memories except the mapped data frames (page tables included).</summary>
    public byte[] SnapshotOutsideMappings()
    {
        var local = Device.Memory.Local.Slice(0, (int)Device.Memory.Local.Length).ToArray();
        var system = Device.Memory.System.Slice(0, (int)Device.Memory.System.Length).ToArray();
        foreach (var (loc, off) in _dataFrames)
            Array.Clear(loc == MemoryLocation.Local ? local : system, (int)off, 4096);
        return [.. local, .. system];
    }

    /// <summary>Asserts that no byte outside the mapped data frames changed since <paramref name="before"/>.</summary>
    public void AssertUnchangedOutsideMappings(byte[] before, string because = "")
    {
        var after = SnapshotOutsideMappings();
        int at = before.AsSpan().CommonPrefixLength(after);
        Assert.That(at, Is.EqualTo(before.Length), $"byte {at} outside the mappings changed {because}");
    }

    /// <summary>Runs a work packet to completion with a fixed budget per call; returns the final status.</summary>
    public WorkStatus Run(ReadOnlySpan<uint> packet, ref WorkState state, long budgetPerCall = long.MaxValue / 2, int maxCalls = 1_000_000)
    {
        var opcode = new PacketHeader(packet[0]).Opcode;
        var costs = WorkCosts.Default;
        for (int i = 0; i < maxCalls; i++)
        {
            long budget = budgetPerCall;
            var s = WorkExecutor.Execute(opcode, Memory, packet, ref state, ref budget, costs, out var fault);
            LastFault = fault;
            if (s != WorkStatus.Yielded) return s;
        }
        Assert.Fail("work packet did not finish within the call bound");
        return WorkStatus.Yielded;
    }

    public WorkStatus Run(ReadOnlySpan<uint> packet)
    {
        var state = default(WorkState);
        return Run(packet, ref state);
    }

    public WorkFault LastFault { get; private set; }

    public void Dispose() => Device.Dispose();
}
