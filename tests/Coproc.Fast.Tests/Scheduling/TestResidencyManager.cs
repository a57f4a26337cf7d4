using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>
/// Scheduling-only stand-in for VidMm's residency manager: every allocation stays where VidMm put it; the kernel
/// view maps each allocation (privileged) on first use; tests can make a resource set "not fit" above a footprint
/// and stage page-ins (copies from a system-memory staging allocation into the allocation) to exercise paging
/// buffers. Records every call.
/// </summary>
internal sealed class TestResidencyManager : IResidencyManager
{
    private readonly VideoMemoryManager _vidmm;
    private readonly GpuAddressSpace _view;
    private readonly Dictionary<AllocationHandle, ulong> _va = new();
    private readonly Dictionary<AllocationHandle, AllocationHandle> _staged = new();
    private readonly Dictionary<ulong, AllocationHandle> _byPhysical = new();

    public TestResidencyManager(VideoMemoryManager vidmm)
    {
        _vidmm = vidmm;
        _view = vidmm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
    }

    public AddressSpaceDescriptor KernelView => _view.Descriptor;

    public ulong ResidentBudget => _vidmm.Local.SizeBytes;

    /// <summary>Resource sets above this footprint do not fit.</summary>
    public ulong FitLimit { get; set; } = ulong.MaxValue;

    /// <summary>(context, footprint, outcome) of each MakeResident.</summary>
    public List<(int Context, ulong Footprint, ResidencyOutcome Outcome)> Calls { get; } = new();

    public int Touches { get; private set; }

    /// <summary>The next MakeResident that names <paramref name="handle"/> pages it in from a staging copy holding <paramref name="content"/>.</summary>
    public void StagePageIn(AllocationHandle handle, ReadOnlySpan<byte> content, bool postFence = false)
    {
        var staging = _vidmm.Allocate(_vidmm.SizeOf(handle), placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
        content.CopyTo(_vidmm.Memory.GetSpan(_vidmm.PhysicalAddressOf(staging, 0), content.Length));
        _staged[handle] = staging;
        _byPhysical[_vidmm.PhysicalAddressOf(staging, 0).Encoded] = staging;
        _byPhysical[_vidmm.PhysicalAddressOf(handle, 0).Encoded] = handle;
        PostFence = postFence;
    }

    private bool PostFence { get; set; }

    public ulong FootprintOf(ReadOnlySpan<ResourceReference> resources)
    {
        var seen = new HashSet<AllocationHandle>();
        ulong bytes = 0;
        foreach (var r in resources)
            if (seen.Add(r.Handle)) bytes += _vidmm.SizeOf(r.Handle);
        return bytes;
    }

    public ResidencyOutcome MakeResident(ReadOnlySpan<ResourceReference> resources, int contextId, List<PagingOperation> commands)
    {
        ulong footprint = FootprintOf(resources);
        if (footprint > FitLimit)
        {
            Calls.Add((contextId, footprint, ResidencyOutcome.DoesNotFit));
            return ResidencyOutcome.DoesNotFit;
        }
        var seen = new HashSet<AllocationHandle>();
        foreach (var r in resources)
        {
            if (!seen.Add(r.Handle) || !_staged.Remove(r.Handle, out var staging)) continue;
            commands.Add(new PagingOperation(PagingOperationKind.PageIn, r.Handle, _vidmm.PhysicalAddressOf(staging, 0),
                _vidmm.PhysicalAddressOf(r.Handle, 0), _vidmm.SizeOf(r.Handle), PreFence: false, PostFence: PostFence));
        }
        var outcome = commands.Count > 0 ? ResidencyOutcome.PagingRequired : ResidencyOutcome.AlreadyResident;
        Calls.Add((contextId, footprint, outcome));
        return outcome;
    }

    public void Touch(ReadOnlySpan<ResourceReference> resources, int contextId) => Touches++;

    public ulong PatchAddress(AllocationHandle handle, ulong offset)
    {
        if (!_va.TryGetValue(handle, out ulong va))
            _va[handle] = va = _view.MapAllocation(handle, GpuMappingFlags.Writable | GpuMappingFlags.Privileged);
        return va + offset;
    }

    public int MeasurePagingBuffer(ReadOnlySpan<PagingOperation> commands) =>
        2 + PacketFormat.CopyDwords * commands.Length + PacketFormat.FenceDwords;

    public int BuildPagingBuffer(ReadOnlySpan<PagingOperation> commands, Span<uint> destination, PhysicalAddress fenceAddress,
        ulong firstFenceValue, out int fencesEmitted)
    {
        var w = new PacketWriter(destination);
        w.DisableContextSwitch();
        bool post = false;
        foreach (var op in commands)
        {
            ulong src = PatchAddress(_byPhysical[op.From.Encoded], 0);
            ulong dst = PatchAddress(_byPhysical[op.To.Encoded], 0);
            w.Copy(dst, src, op.Bytes);
            post |= op.PostFence;
        }
        fencesEmitted = 0;
        if (post)
        {
            w.PrivilegedFence(fenceAddress.Encoded, firstFenceValue, interrupt: true);
            fencesEmitted = 1;
        }
        w.EnableContextSwitch();
        return w.Written;
    }
}
