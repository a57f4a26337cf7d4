using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Engines;

/// <summary>
/// The engines' TLBs, created in one place so the MMU's TLB registry can adopt them (one per engine, each a
/// translation client of its own). TLB_FLUSH and the MMU's invalidation registers invalidate all of them.
/// </summary>
internal sealed class EngineTlbs
{
    private readonly Tlb[] _tlbs;

    /// <summary>
    /// Creates one TLB of <paramref name="entries"/> entries per engine, each registered with the MMU as its own
    /// translation client, so MMIO invalidation (TLB_INV_CMD) and TLB_FLUSH reach them.
    /// </summary>
    public EngineTlbs(GpuMmu mmu, int entries)
    {
        ArgumentNullException.ThrowIfNull(mmu);
        _tlbs = new Tlb[Engines.Count];
        for (int i = 0; i < _tlbs.Length; i++) _tlbs[i] = mmu.CreateClientTlb("engine:" + (EngineKind)i, entries);
    }

    /// <summary>The TLB of one engine.</summary>
    public Tlb this[EngineKind engine] => _tlbs[(int)engine];

    /// <summary>Invalidates [va, va + pages × 4 KiB) of one address space in every engine TLB; pages = 0 drops the whole ASID.</summary>
    public void Invalidate(ushort asid, ulong va, uint pages)
    {
        foreach (var t in _tlbs)
        {
            if (pages == 0) t.InvalidateAsid(asid);
            else t.InvalidateRange(asid, va, (ulong)pages << PageTableLayout.PageShift);
        }
    }

    /// <summary>Drops every entry of every engine TLB.</summary>
    public void InvalidateAll()
    {
        foreach (var t in _tlbs) t.InvalidateAll();
    }
}
