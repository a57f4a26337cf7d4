using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// One emulated process of a scenario and its video memory: the allocations of its first <see cref="AllocationSpec"/>
/// are its surfaces (swap chain, render targets — drawn into and flipped in turn), every later one its resources
/// (textures, datasets — read by COPY and DISPATCH in rotation, so working sets change over time).
/// </summary>
/// <remarks>
/// Ring-0 contexts use managed (evictable) allocations in the first context's working set (seed 001 §5.1), so a
/// scenario may allocate more than local memory and VidMm evicts and pages; an allocation with <c>"preferred":
/// "system"</c> is pinned in system memory instead (the device reads it there; it is never paged). A process without allocations gets one
/// 1 MiB buffer.
/// </remarks>
internal sealed class ScenarioProcess(uint id, ProcessSpec spec)
{
    private readonly List<(AllocationHandle Handle, ulong Bytes)> _surfaces = [];
    private readonly List<(AllocationHandle Handle, ulong Bytes)> _resources = [];

    /// <summary>Process id (1-based, scenario order).</summary>
    public uint Id { get; } = id;

    /// <summary>The scenario's process.</summary>
    public ProcessSpec Spec { get; } = spec;

    private bool _created;
    private bool _primaries;

    /// <summary>Bytes of managed allocations made.</summary>
    public ulong ManagedBytes { get; private set; }

    /// <summary>
    /// Makes <paramref name="surfaces"/> (primary surfaces of <paramref name="bytes"/> each: pinned, scanned out by
    /// the display) this process's surfaces in place of its first allocation spec (seed 001 §9.3 flip chain).
    /// </summary>
    public void UsePrimarySurfaces(IEnumerable<AllocationHandle> surfaces, ulong bytes)
    {
        if (_created) throw new InvalidOperationException("the process's allocations already exist");
        foreach (var h in surfaces) _surfaces.Add((h, bytes));
        _primaries = true;
    }

    /// <summary>Creates the process's managed allocations once, in <paramref name="context"/>'s working set.</summary>
    public void EnsureManagedAllocations(Machine machine, VidSchContext context)
    {
        if (_created) return;
        _created = true;
        var specs = Spec.Allocations.Count > 0 ? Spec.Allocations : [new AllocationSpec("default", 1UL << 20, 1, "local")];
        for (int s = _primaries ? 1 : 0; s < specs.Count; s++)
        {
            var list = s == 0 ? _surfaces : _resources;
            try
            {
                for (int i = 0; i < specs[s].Count; i++)
                {
                    ulong bytes = RoundToPage(specs[s].Bytes);
                    if (specs[s].Preferred == "system")
                    {
                        // "preferred": "system" — the device reads it where it is (system memory through the GPU page
                        // tables): pinned there, owned by the process, never paged into local memory.
                        list.Add((machine.Kmd.Allocate(Id, bytes, PlacementHint.SystemOnly), bytes));
                        continue;
                    }
                    list.Add((machine.AllocateManaged(Id, context, bytes), bytes));
                    ManagedBytes += bytes;
                }
            }
            catch (VidMmException e) when (Spec.Allocations.Count > 0)
            {
                throw ScenarioSetupException.Allocation(this, s, e);
            }
        }
    }

    /// <summary>The surface frame <paramref name="frame"/> draws into (round robin over the swap chain).</summary>
    public (AllocationHandle Handle, ulong Bytes) Surface(int frame) => _surfaces[(int)((uint)frame % (uint)_surfaces.Count)];

    /// <summary>The <paramref name="k"/>-th resource in rotation (the surfaces when the process has no others).</summary>
    public (AllocationHandle Handle, ulong Bytes) Resource(int k)
    {
        var list = _resources.Count > 0 ? _resources : _surfaces;
        return list[(int)((uint)k % (uint)list.Count)];
    }

    /// <summary>Every surface (swap chain or render targets).</summary>
    public IReadOnlyList<(AllocationHandle Handle, ulong Bytes)> Surfaces => _surfaces;

    /// <summary>Number of surfaces.</summary>
    public int SurfaceCount => _surfaces.Count;

    /// <summary>Rounds up to whole pages (VidMm allocates pages).</summary>
    public static ulong RoundToPage(ulong bytes) => (Math.Max(bytes, 1) + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
}
