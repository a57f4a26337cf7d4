using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// What an attacker must never change: every byte of the victims' allocations, the kernel view's translation of every
/// one of their pages (the page tables that reach them) and the victims' kernel rings. Snapshots are kept whole so a
/// difference names its first byte.
/// </summary>
internal sealed class VictimLedger(Machine machine)
{
    private readonly List<(string Name, AllocationHandle Handle, byte[] Bytes, ulong[] Leaves)> _allocations = new();
    private readonly List<(string Name, VidSchContext Context, byte[] Ring)> _rings = new();
    private readonly HashSet<AllocationHandle> _bytesOnly = new();

    /// <summary>
    /// Ledgers an allocation's bytes and, with <paramref name="pageTables"/>, its kernel-view PTEs. A managed (evictable)
    /// allocation is ledgered by its bytes alone: an eviction or a page-in legitimately moves it.
    /// </summary>
    public void Add(string name, AllocationHandle handle, bool pageTables = true)
    {
        if (!pageTables) _bytesOnly.Add(handle);
        _allocations.Add((name, handle, ReadAllocation(handle), Leaves(handle)));
    }

    /// <summary>Stops ledgering an allocation (its owner freed it).</summary>
    public void Remove(AllocationHandle handle)
    {
        _allocations.RemoveAll(a => a.Handle == handle);
        _bytesOnly.Remove(handle);
    }

    public void Add(string name, VidSchContext context) => _rings.Add((name, context, ReadRing(context)));

    /// <summary>Takes a new snapshot (after the victim itself legitimately wrote its memory).</summary>
    public void Refresh()
    {
        for (int i = 0; i < _allocations.Count; i++)
        {
            var (name, h, _, _) = _allocations[i];
            _allocations[i] = (name, h, ReadAllocation(h), Leaves(h));
        }
        for (int i = 0; i < _rings.Count; i++) _rings[i] = (_rings[i].Name, _rings[i].Context, ReadRing(_rings[i].Context));
    }

    /// <summary>Re-snapshots one allocation that its owner has just written legitimately.</summary>
    public void Update(AllocationHandle handle)
    {
        int i = _allocations.FindIndex(a => a.Handle == handle);
        if (i >= 0) _allocations[i] = (_allocations[i].Name, handle, ReadAllocation(handle), Leaves(handle));
    }

    /// <summary>Null when nothing changed, else what changed first.</summary>
    public string? FindChange(bool includeRings = true)
    {
        foreach (var (name, h, bytes, leaves) in _allocations)
        {
            var now = ReadAllocation(h);
            int at = FirstDifference(bytes, now);
            if (at >= 0)
                return $"victim allocation {name} ({h}, 0x{bytes.Length:X} bytes) changed at byte 0x{at:X}: 0x{bytes[at]:X2} -> 0x{now[at]:X2}";
            var nowLeaves = Leaves(h);
            at = FirstDifference(leaves, nowLeaves);
            if (at >= 0)
                return $"kernel-view PTE of victim allocation {name} page {at} changed: 0x{leaves[at]:X16} -> 0x{nowLeaves[at]:X16}";
        }
        if (includeRings)
            foreach (var (name, ctx, ring) in _rings)
            {
                var now = ReadRing(ctx);
                int at = FirstDifference(ring, now);
                if (at >= 0) return $"kernel ring of victim context {name} (id {ctx.Id}) changed at byte 0x{at:X}";
            }
        return null;
    }

    /// <summary>Writes consecutive dwords from <paramref name="seed"/> over allocation <paramref name="h"/>'s bytes, through the CPU view (a set-up pattern the worlds' victims and bystanders start with).</summary>
    public void FillCounting(AllocationHandle h, uint seed)
    {
        uint x = seed;
        foreach (var e in machine.VidMm.ExtentsOf(h))
        {
            var span = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(machine.VidMm.Memory.GetSpan(e.Address, (int)e.Bytes));
            for (int i = 0; i < span.Length; i++) span[i] = x++;
        }
    }

    public byte[] ReadAllocation(AllocationHandle h)
    {
        var vidmm = machine.VidMm;
        var bytes = new byte[vidmm.SizeOf(h)];
        int at = 0;
        foreach (var e in vidmm.ExtentsOf(h))
        {
            int n = (int)Math.Min(e.Bytes, (ulong)(bytes.Length - at));
            vidmm.Memory.GetSpan(e.Address, n).CopyTo(bytes.AsSpan(at));
            at += n;
        }
        return bytes;
    }

    private ulong[] Leaves(AllocationHandle h)
    {
        if (_bytesOnly.Contains(h)) return [];
        ulong size = machine.VidMm.SizeOf(h);
        var leaves = new ulong[(size + VideoMemoryManager.PageSize - 1) / VideoMemoryManager.PageSize];
        for (int p = 0; p < leaves.Length; p++)
        {
            ulong va = machine.Residency.PatchAddress(h, (ulong)p * VideoMemoryManager.PageSize);
            var status = machine.Device.Mmu.Walk(machine.Residency.KernelView, va, out var leaf, out _, out _, out _);
            leaves[p] = status == TranslationStatus.Ok ? leaf.Raw : 0xDEAD_0000_0000_0000UL | (ulong)status;
        }
        return leaves;
    }

    private byte[] ReadRing(VidSchContext c) => machine.VidMm.Memory.GetSpan(c.Ring, (int)c.RingBytes).ToArray();

    private static int FirstDifference<T>(T[] a, T[] b) where T : IEquatable<T>
    {
        if (a.AsSpan().SequenceEqual(b)) return -1;
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++) if (!a[i].Equals(b[i])) return i;
        return Math.Min(a.Length, b.Length);
    }
}
