using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// VidMm's dedicated coprocessor context of the advanced model (seed 001 §5.6 "VidMm context", behaviour 17): a kernel
/// context in the kernel view that runs on the scheduler's engine, in the run list like any other context, so every
/// paging copy and PTE rewrite happens after a context switch — memory never changes under a running context. Paging
/// buffers (native-layout.md §14.4) are written straight into its ring (a privileged channel); each ends with privileged
/// fences writing increasing values of the <b>paging fence</b>, a kernel page mapped read-only into every process so a
/// context's ring can WAIT_FENCE on it.
/// </summary>
public sealed class VidMmPagingContext
{
    /// <summary>Context id of the advanced model's VidMm context.</summary>
    public const uint ContextId = 0xFFFF_FE00;

    private readonly ResidencyManager _residency;
    private readonly DeviceMemory _memory;
    private readonly Queue<uint[]> _overflow = new();
    private readonly Queue<(AllocationHandle Buffer, ulong Last)> _buffers = new(); // large paging buffers, by last fence value
    private uint[] _scratch = new uint[4096];

    /// <summary>Creates the context (pinned ring and fence page in local memory).</summary>
    public VidMmPagingContext(ResidencyManager residency, uint ringBytes)
    {
        _residency = residency ?? throw new ArgumentNullException(nameof(residency));
        var vidmm = residency.VideoMemory;
        _memory = vidmm.Memory;
        Hw = new KernelContext(vidmm, residency.KernelView, ContextId, ringBytes);
        FencePage = vidmm.Allocate(VideoMemoryManager.PageSize, VideoMemoryManager.PageSize, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        FencePa = vidmm.PhysicalAddressOf(FencePage, 0);
        _memory.GetSpan(FencePa, (int)VideoMemoryManager.PageSize).Clear();
    }

    /// <summary>The hardware context (save area, ring).</summary>
    public KernelContext Hw { get; }

    /// <summary>Save-area PA as the run list names it.</summary>
    public ulong SaveArea => Hw.SaveArea.Encoded;

    /// <summary>The pinned page holding the paging fence at offset 0.</summary>
    public AllocationHandle FencePage { get; }

    /// <summary>PA of the paging fence.</summary>
    public PhysicalAddress FencePa { get; }

    /// <summary>Last paging-fence value handed out.</summary>
    public ulong LastSubmitted { get; private set; }

    /// <summary>Last paging-fence value the device wrote.</summary>
    public ulong Completed => Volatile.Read(ref _memory.Region(FencePa.Location).Ref<ulong>(FencePa.Offset));

    /// <summary>True while paging work is queued or running.</summary>
    public bool HasWork => Completed < LastSubmitted;

    /// <summary>Paging buffers written.</summary>
    public long BuffersSubmitted { get; private set; }

    /// <summary>
    /// Builds the paging buffer of <paramref name="commands"/> (copies, PTE retargets or invalidations, TLB flushes,
    /// fences) and queues it on the ring (or, while the ring is full, in order behind it). Returns the paging-fence value
    /// that says it ran.
    /// </summary>
    public ulong Submit(ReadOnlySpan<PagingOperation> commands)
    {
        int need = _residency.MeasurePagingBuffer(commands) + PacketFormat.FenceDwords;
        if (_scratch.Length < need) _scratch = new uint[Math.Max(need, _scratch.Length * 2)];
        int n = _residency.BuildPagingBuffer(commands, _scratch, FencePa, LastSubmitted + 1, out int fences);
        if (fences == 0)
        {
            var w = new PacketWriter(_scratch.AsSpan(n));
            w.PrivilegedFence(FencePa.Encoded, LastSubmitted + 1, interrupt: true);
            n += w.Written;
            fences = 1;
        }
        LastSubmitted += (ulong)fences;
        BuffersSubmitted++;
        RetireBuffers();
        if (n <= Hw.RingBytes / 16)
        {
            // Small: the packets go straight into the ring.
            if (_overflow.Count != 0 || !Hw.TrySubmit(_scratch.AsSpan(0, n))) _overflow.Enqueue(_scratch.AsSpan(0, n).ToArray());
        }
        else
        {
            // Large (a big allocation's copies and page-table updates): the buffer goes to kernel memory and the ring
            // gets one privileged INDIRECT to it, so it runs as one unit — its DISABLE/ENABLE_CONTEXT_SWITCH bracket
            // is never cut by the ring running empty between pieces (the engine leaves an empty ring even with
            // switching disabled). Freed once the paging fence passes its last value.
            ulong bytes = ((ulong)n * 4 + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
            var vidmm = _residency.VideoMemory;
            var h = vidmm.Allocate(bytes, VideoMemoryManager.PageSize, PlacementHint.SystemOnly, AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(_scratch.AsSpan(0, n)).CopyTo(_memory.GetSpan(vidmm.PhysicalAddressOf(h, 0), n * 4));
            _buffers.Enqueue((h, LastSubmitted));
            Span<uint> indirect = stackalloc uint[PacketFormat.IndirectDwords];
            new PacketWriter(indirect).Indirect(_residency.PatchAddress(h, 0), (uint)n, privileged: true);
            if (_overflow.Count != 0 || !Hw.TrySubmit(indirect)) _overflow.Enqueue(indirect.ToArray());
        }
        return LastSubmitted;
    }

    /// <summary>Moves paging buffers that waited for ring space into the ring, in order (after the device caught up).</summary>
    // Large paging buffers whose last fence value the device has written go back to VidMm.
    private void RetireBuffers()
    {
        ulong done = Completed;
        while (_buffers.TryPeek(out var b) && b.Last <= done) _residency.VideoMemory.Free(_buffers.Dequeue().Buffer);
        _residency.RetireInTransit(); // memory the executed paging vacated (ResidencyManager.InTransit.cs)
    }

    public void Pump()
    {
        RetireBuffers();
        while (_overflow.TryPeek(out var b) && Hw.TrySubmit(b)) _overflow.Dequeue();
    }
}
