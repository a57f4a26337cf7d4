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
        // A paging buffer larger than a quarter of the ring (a big allocation's page-table updates and copies) goes in as
        // consecutive pieces cut at packet boundaries: the ring executes them in order, so the whole buffer still runs
        // before its fence, and the device drains the ring between pieces instead of the submission being refused.
        int max = (int)(Hw.RingBytes / 16);
        for (int at = 0; at < n;)
        {
            int end = at;
            while (end < n)
            {
                int len = new PacketHeader(_scratch[end]).LengthDwords;
                if (end > at && end + len - at > max) break;
                end += len;
            }
            var piece = _scratch.AsSpan(at, end - at);
            if (_overflow.Count != 0 || !Hw.TrySubmit(piece)) _overflow.Enqueue(piece.ToArray());
            at = end;
        }
        return LastSubmitted;
    }

    /// <summary>Moves paging buffers that waited for ring space into the ring, in order (after the device caught up).</summary>
    public void Pump()
    {
        while (_overflow.TryPeek(out var b) && Hw.TrySubmit(b)) _overflow.Dequeue();
    }
}
