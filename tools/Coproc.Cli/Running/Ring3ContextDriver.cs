using Coproc.Cli.Scenarios;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Machine;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Cli.Running;

/// <summary>
/// One ring-3 context of a scenario (seed 003): the process's own GPU address space with its allocations mapped, a
/// user queue registered once through the ring-0 gate (<see cref="UserQueueRegistrar"/>: descriptor, ring, save
/// area), and submissions written as real packets (<see cref="PacketMixEncoder"/>: VIDEO_DECODE, DRAW_RECTS,
/// DISPATCH … with VAs) into the queue, published and announced with one doorbell write — no gate crossing. The
/// device's scheduling core runs the queue on its engine; completion is the FENCE value each submission writes.
/// </summary>
/// <remarks>
/// Simplified: ring-3 allocations are pinned (no residency management for user queues, as the basic model's VidMm
/// does not page what a user queue may touch at any time); start times are observed when the runner polls the
/// queue's read pointer, so their latency is rounded up to the runner's polling step.
/// </remarks>
internal sealed class Ring3ContextDriver
{
    private const uint RingBytes = 64 * 1024;
    private const uint VideoWidth = 320, VideoHeight = 180;
    private readonly CoprocMachine _machine;
    private readonly SchedulingObserver _observer;
    private readonly UserQueue _queue;
    private readonly SubmissionTargets _targets;
    private readonly PhysicalAddress _fence;
    private readonly uint[] _packets;
    private readonly Queue<(long Index, ulong StartPosition)> _inFlight = new();
    private bool _headStarted;

    public Ring3ContextDriver(CoprocMachine machine, UserQueueRegistrar registrar, ScenarioProcess process, ContextSpec spec, int index,
        uint contextId, SchedulingObserver observer)
    {
        _machine = machine;
        _observer = observer;
        Spec = spec;
        Index = index;
        var vidmm = machine.VidMm;
        Handle = observer.RegisterContext(process.Id, process.Spec.Name, contextId, spec.Name, spec.Engine);
        lock (machine.Scheduler.KernelLock)
        {
            var space = vidmm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
            var specs = process.Spec.Allocations.Count > 0 ? process.Spec.Allocations : [new AllocationSpec("default", 1UL << 20, 1, "system")];
            var vas = new List<(ulong Va, ulong Bytes)>();
            foreach (var a in specs)
                for (int i = 0; i < a.Count; i++)
                {
                    ulong bytes = ScenarioProcess.RoundToPage(a.Bytes);
                    var h = vidmm.Allocate(bytes, placement: a.Preferred == "system" ? PlacementHint.SystemOnly : PlacementHint.PreferLocal,
                        flags: AllocationFlags.Contiguous);
                    vas.Add((space.MapAllocation(h), bytes));
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

            // The queue's kernel objects: descriptor and ring in system memory, a save area in local memory.
            var descriptor = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            var ring = vidmm.Allocate(RingBytes, RingBytes, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
            var save = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
            machine.Device.Memory.GetSpan(vidmm.PhysicalAddressOf(descriptor, 0), 4096).Clear();
            machine.Device.Memory.GetSpan(vidmm.PhysicalAddressOf(save, 0), 4096).Clear();
            var registration = registrar.Register(process.Id, new UserQueueRegistrationRequest
            {
                ContextId = contextId, Engine = spec.Engine, Priority = (byte)spec.Priority,
                TimeSliceCycles = (uint)Math.Min(machine.Scheduler.Options.QuantumCycles, uint.MaxValue),
                DescriptorAddress = vidmm.PhysicalAddressOf(descriptor, 0).Encoded,
                RingBase = vidmm.PhysicalAddressOf(ring, 0).Encoded, RingBytes = RingBytes,
            }, new UserQueueExecution(vidmm.PhysicalAddressOf(save, 0), space.Descriptor));
            _queue = registration.Open(machine.Device.Memory);
        }
        _packets = new uint[PacketMixEncoder.SizeInDwords(spec.Submission.Packets) + PacketMixEncoder.MisbehaviourDwords + 8];
    }

    /// <summary>The scenario's context.</summary>
    public ContextSpec Spec { get; }

    /// <summary>Index in scenario order.</summary>
    public int Index { get; }

    /// <summary>The observer handle.</summary>
    public int Handle { get; }

    /// <summary>Submissions written and not yet completed.</summary>
    public int Outstanding => _inFlight.Count;

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
        int n = misbehaviour is { } m
            ? PacketMixEncoder.EncodeMisbehaviour(dwords, m, _targets)
            : PacketMixEncoder.Encode(dwords, Spec.Submission.Packets, Spec.Submission.WorkCycles, _targets, (uint)index, (ulong)index + 1,
                costs.PacketCosts, costs.WorkCosts).Dwords;
        if (misbehaviour is not null || Spec.Submission.Packets.Fence == 0)
        {
            // Completion is observed through the fence: a submission without one gets one.
            var w = new PacketWriter(dwords[n..]);
            w.Fence(_targets.FenceVa, (ulong)index + 1);
            n += w.Written;
        }
        ulong start = _queue.WritePosition;
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
        _inFlight.Enqueue((index, start));
        _observer.Submitted(Handle, cycle, (ulong)index + 1, ring0: false);
        return true;
    }

    /// <summary>Observes starts (the device's read pointer passed a submission's first packet) and completions (its fence).</summary>
    public void Poll(ulong cycle)
    {
        ulong fence = _machine.Device.Memory.Read64(_fence);
        while (_inFlight.TryPeek(out var head))
        {
            ulong read = _queue.DeviceReadPtr;
            if (!_headStarted && read > head.StartPosition)
            {
                _observer.Started(Handle, cycle);
                _headStarted = true;
            }
            if (fence < (ulong)head.Index + 1) break;
            if (!_headStarted) _observer.Started(Handle, cycle);
            _observer.Completed(Handle, cycle);
            _inFlight.Dequeue();
            _headStarted = false;
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
