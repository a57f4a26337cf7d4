using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// One ring-3 context of a scenario (seed 003): the process's own GPU address space with its allocations mapped, a
/// user queue registered once through the ring-0 gate (<see cref="UserQueueRegistrar"/>: descriptor, ring, save
/// area), and submissions written as real packets (<see cref="PacketMixEncoder"/>: VIDEO_DECODE, DRAW_RECTS,
/// DISPATCH … with VAs) into the queue, published and announced with one doorbell write — no gate crossing. The
/// device's scheduling core runs the queue on its engine; completion is the FENCE value each submission writes.
/// </summary>
/// <remarks>
/// Simplified: ring-3 allocations are pinned (no residency management for user queues, as the basic model's VidMm
/// does not page what a user queue may touch at any time); the runner sees starts and completions when it polls the
/// queue, but each submission is bracketed by two TIMESTAMP packets (native-layout.md §8.2), so its start and end on
/// the engine are exact device cycles.
/// </remarks>
internal sealed class Ring3ContextDriver : IScenarioContext
{
    private const uint RingBytes = 64 * 1024;
    private const uint VideoWidth = 320, VideoHeight = 180;
    private readonly Machine _machine;
    private readonly SchedulingObserver _observer;
    private readonly UserQueue _queue;
    private readonly Driver.Kernel.UserQueueContext _context;
    private uint _preemptionsSeen; // the queue's save-area count (native-layout.md §11 +92, a wrapping u32) reported so far
    private readonly SubmissionTargets _targets;
    private readonly PhysicalAddress _fence;
    private readonly uint[] _packets;
    private const int TimestampSlots = 64; // (start, end) pairs at fence page + 128, in submission order
    // (submission index, its TIMESTAMP slot). Slots go round in submission order, so two submissions in flight share
    // one only with more than TimestampSlots in flight (a plan index, skipping held-back submissions, could sooner).
    private readonly Queue<(long Index, int Slot)> _inFlight = new();
    private long _cursor;
    private bool _headStarted;

    public Ring3ContextDriver(Machine machine, UserQueueRegistrar registrar, ScenarioProcess process, ContextSpec spec, int index,
        uint contextId, SchedulingObserver observer, MachineObserver adapter)
    {
        _machine = machine;
        _observer = observer;
        Spec = spec;
        Index = index;
        var vidmm = machine.VidMm;
        lock (machine.Scheduler.KernelLock)
        {
            // The process's one GPU address space (Machine.Process): its queues share it, as its contexts do in every model.
            var space = machine.Process(process.Id).GpuSpace;
            var specs = process.Spec.Allocations.Count > 0 ? process.Spec.Allocations : [new AllocationSpec("default", 1UL << 20, 1, "system")];
            var vas = new List<(ulong Va, ulong Bytes)>();
            var handles = new List<AllocationHandle>();
            for (int s = 0; s < specs.Count; s++)
            {
                var a = specs[s];
                try
                {
                    for (int i = 0; i < a.Count; i++)
                    {
                        ulong bytes = ScenarioProcess.RoundToPage(a.Bytes);
                        var h = vidmm.Allocate(bytes, placement: a.Preferred == "system" ? PlacementHint.SystemOnly : PlacementHint.PreferLocal,
                            flags: AllocationFlags.Contiguous);
                        vas.Add((space.MapAllocation(h), bytes));
                        handles.Add(h);
                    }
                }
                catch (VidMmException e) when (process.Spec.Allocations.Count > 0)
                {
                    // Ring-3 allocations are pinned and contiguous: each must fit its segment for the whole run.
                    throw ScenarioSetupException.Allocation(process, s, e);
                }
            }
            // Fence (0), WRITE_DATA slot (8), an unsignalled counter (64) and a CRLE bitstream, in one system buffer.
            ulong bitstreamBytes = VideoBitstream.MaxEncodedBytes(VideoWidth, VideoHeight);
            var page = vidmm.Allocate(ScenarioProcess.RoundToPage(4096 + bitstreamBytes), placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            ulong pageVa = space.MapAllocation(page);
            _fence = vidmm.PhysicalAddressOf(page, 0);
            machine.Device.Memory.GetSpan(_fence, 4096).Clear();
            uint streamLength = WriteBitstream(machine.Device.Memory, vidmm.PhysicalAddressOf(page, 4096));
            ulong unmapped = space.Reserve(VideoMemoryManager.PageSize); // reserved, never mapped: a page fault

            var surface = vas[0];
            var scratch = vas.Count > 1 ? vas[1] : vas[0];
            var geometry = SurfaceGeometry.For(surface.Bytes);
            ulong videoBytes = (ulong)VideoWidth * VideoHeight * 4;
            _targets = new SubmissionTargets(geometry.At(surface.Va), scratch.Va, scratch.Bytes, pageVa,
                ComputeAVa: scratch.Va, ComputeBVa: scratch.Va + scratch.Bytes / 2, ComputeElements: (uint)Math.Min(scratch.Bytes / 8, int.MaxValue),
                BitstreamVa: pageVa + 4096, BitstreamBytes: streamLength,
                VideoOutput: surface.Bytes >= videoBytes ? Surface.Packed(surface.Va, VideoWidth, VideoHeight) : default,
                CounterVa: pageVa + 64, UnmappedVa: unmapped);
            // The decoder's output as another process sees it: offset 0 of the first allocation (a compositor window).
            if (!_targets.VideoOutput.IsEmpty) VideoSource = (handles[0], Surface.Packed(0, VideoWidth, VideoHeight), vas[0].Bytes);
            RenderTarget = (handles[0], vas[0].Bytes);

            // The queue's kernel objects (descriptor, ring, save area) and its registration through the gate.
            var registration = machine.CreateUserQueue(process.Id, space, contextId, spec.Engine, (byte)spec.Priority, RingBytes);
            Handle = adapter.Register(registration.Context, process.Spec.Name, spec.Name);
            _context = registration.Context;
            _queue = registration.Open(machine.Device.Memory);
        }
        _packets = new uint[PacketMixEncoder.SizeInDwords(spec.Submission.Packets) + PacketMixEncoder.MisbehaviourDwords + 16];
    }

    /// <summary>The scenario's context.</summary>
    public ContextSpec Spec { get; }

    /// <summary>The allocation its DRAW_RECTS render into (its first one) and its size: a compositor's window onto it.</summary>
    public (AllocationHandle Handle, ulong Bytes) RenderTarget { get; }

    /// <summary>Submissions completed (their fence reached), as of the last <see cref="Poll"/>.</summary>
    public long Completed { get; private set; }

    /// <summary>The VIDEO_DECODE output surface's allocation, its surface at offset 0 and the allocation's size (null handle: no video output).</summary>
    public (AllocationHandle Handle, Surface Surface, ulong Bytes) VideoSource { get; }

    /// <summary>Index in scenario order.</summary>
    public int Index { get; }

    /// <summary>The observer handle.</summary>
    public int Handle { get; }

    /// <summary>
    /// Submission <paramref name="id"/> (its index + 1, the value its FENCE writes): completed once the queue's fence
    /// reached it.
    /// </summary>
    public SubmissionStatus StatusOf(long id) =>
        id <= 0 ? SubmissionStatus.Unknown : _machine.Device.Memory.Read64(_fence) >= (ulong)id ? SubmissionStatus.Completed : SubmissionStatus.Pending;

    /// <summary>Submissions written and not yet completed.</summary>
    public int Outstanding => _inFlight.Count;

    /// <summary>Device cycle of its last completion, or of its first submission after it had none outstanding (whichever is later).</summary>
    public ulong ProgressSince { get; private set; }

    /// <summary>Submissions dropped because the queue was full.</summary>
    public int QueueFull { get; private set; }

    /// <summary>
    /// Writes the <paramref name="index"/>-th submission's packets into the user queue, publishes them and rings the
    /// doorbell once (seed 003: the whole submission path in ring 3). False when the queue had no room.
    /// </summary>
    public bool Submit(int index, MisbehaviourKind? misbehaviour, ulong cycle)
    {
        var costs = _machine.Device.Options;
        Span<uint> dwords = _packets;
        // TIMESTAMP (start) … the submission … TIMESTAMP (end), FENCE: exact engine cycles for the trace.
        int slotIndex = (int)(_cursor % TimestampSlots);
        var slot = _fence.Add(128 + (ulong)slotIndex * 16);
        _machine.Device.Memory.GetSpan(slot, 16).Clear();
        ulong slotVa = _targets.FenceVa + 128 + (ulong)slotIndex * 16;
        var head = new PacketWriter(dwords);
        head.Timestamp(slotVa);
        int n = head.Written;
        n += misbehaviour is { } m
            ? PacketMixEncoder.EncodeMisbehaviour(dwords[n..], m, _targets)
            : PacketMixEncoder.Encode(dwords[n..], Spec.Submission.Packets, Spec.Submission.WorkCycles, _targets, (uint)index, (ulong)index + 1,
                costs.PacketCosts, costs.WorkCosts).Dwords;
        var tail = new PacketWriter(dwords[n..]);
        tail.Timestamp(slotVa + 8);
        // Completion is observed through the fence: every submission ends with one (after the end timestamp).
        tail.Fence(_targets.FenceVa, (ulong)index + 1);
        n += tail.Written;
        for (int off = 0; off < n;)
        {
            int len = new PacketHeader(dwords[off]).LengthDwords;
            if (!_queue.TryWrite(dwords.Slice(off, len)))
            {
                QueueFull++;
                return false; // the packets written so far are published with the next submission
            }
            off += len;
        }
        _queue.Flush(); // publish + one doorbell write
        if (_inFlight.Count == 0) ProgressSince = cycle;
        _inFlight.Enqueue((index, slotIndex));
        _cursor++;
        _observer.Submitted(Handle, cycle, (ulong)index + 1, ring0: false);
        return true;
    }

    /// <summary>Observes starts and completions from the submissions' TIMESTAMP slots and fences (exact device cycles).</summary>
    public void Poll(ulong cycle)
    {
        var memory = _machine.Device.Memory;
        // The engine counts the queue's preemptions in its save area (the kernel never switches a queue itself).
        // The count wraps at 2^32 (a difference of u32s is right across the wrap); a polled step never sees more than a
        // few thousand switches, so a larger jump is not trusted beyond that (the save area is the engine's, but memory).
        uint now = (uint)_context.Preemptions, delta = now - _preemptionsSeen;
        _preemptionsSeen = now;
        for (uint i = 0; i < Math.Min(delta, 4096u); i++) _observer.PreemptionCounted(Handle, cycle);
        ulong fence = memory.Read64(_fence);
        while (_inFlight.TryPeek(out var head))
        {
            long index = head.Index;
            var slot = _fence.Add(128 + (ulong)head.Slot * 16);
            ulong started = memory.Read64(slot);
            if (!_headStarted && started != 0)
            {
                _observer.Started(Handle, started);
                _headStarted = true;
            }
            if (fence < (ulong)index + 1) break;
            ulong ended = memory.Read64(slot.Add(8));
            if (!_headStarted) _observer.Started(Handle, started != 0 ? started : cycle);
            _observer.Completed(Handle, ended != 0 ? ended : cycle);
            _inFlight.Dequeue();
            Completed++;
            _headStarted = false;
            ProgressSince = Math.Max(ProgressSince, cycle);
        }
    }

    // A test picture (diagonal colour bands) encoded the way the device's encoder does: row by row, segment by segment.
    private static uint WriteBitstream(DeviceMemory memory, PhysicalAddress at)
    {
        var row = new uint[VideoWidth];
        var encoded = new byte[VideoBitstream.MaxSegmentBytes((int)Math.Min(VideoWidth, VideoBitstream.SegmentPixels))];
        uint written = 0;
        for (uint y = 0; y < VideoHeight; y++)
        {
            for (uint x = 0; x < VideoWidth; x++)
            {
                uint band = (x + y) / 24;
                row[x] = 0xFF000000u | ((band * 40) & 0xFF) << 16 | ((band * 90 + 60) & 0xFF) << 8 | ((200 - band * 20) & 0xFF);
            }
            for (int s = 0; s < row.Length; s += VideoBitstream.SegmentPixels)
            {
                int len = Math.Min(VideoBitstream.SegmentPixels, row.Length - s);
                int bytes = VideoBitstream.EncodeSegment(row.AsSpan(s, len), encoded);
                memory.Write(at.Add(written), encoded.AsSpan(0, bytes));
                written += (uint)bytes;
            }
        }
        return written;
    }
}
