using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// One ring-0 context of a scenario (seed 001 §3.1): a VidSch context, a UMD <see cref="CommandBufferBuilder"/> whose
/// flushes cross the ring-0 gate into the KMD (copy-in, validation, DMA buffer, queued in VidSch), and its process's
/// managed allocations. Each submission turns the context's <see cref="PacketMix"/> into packets whose memory
/// operands are (allocation, offset) resource-list references, sized so the buffer takes about
/// <see cref="SubmissionPattern.WorkCycles"/> at the device's costs.
/// </summary>
/// <remarks>
/// Each context runs on its engine's scheduler, and the KMD accepts a work packet only on its own engine: DRAW_RECTS
/// on render and DISPATCH (SAXPY) on compute are real; a work packet on another engine's context becomes a FILL of
/// the memory it would have written (a band of the surface, the compute buffer) — the same device cycles of work.
/// Ring-0 VIDEO_DECODE is such a FILL too (the scenario's decoder is the ring-3 one).
/// </remarks>
internal sealed class Ring0ContextDriver : IScenarioContext
{
    private const int MaxRepeats = 64; // work packets per mix entry when one target cannot absorb the budget
    private readonly Machine _machine;
    private readonly ScenarioProcess _process;
    private readonly CommandBufferBuilder _umd;
    private readonly SchedulingObserver _observer;
    private readonly AllocationHandle _fencePage;

    public Ring0ContextDriver(Machine machine, ScenarioProcess process, ContextSpec spec, int index, SchedulingObserver observer, MachineObserver adapter)
    {
        _machine = machine;
        _process = process;
        Spec = spec;
        Index = index;
        _observer = observer;
        Context = machine.CreateContext(process.Id, spec.Priority, spec.Engine);
        Handle = adapter.Register(Context, process.Spec.Name, spec.Name); // the machine's one observer path, for every kind of context
        process.EnsureManagedAllocations(machine, Context);
        // The context's fence (offset 0), WRITE_DATA slot (8) and a counter nobody signals (64, the hung WAIT).
        _fencePage = machine.AllocateManaged(process.Id, Context, VideoMemoryManager.PageSize);
        var o = machine.Scheduler.Options;
        _umd = new CommandBufferBuilder(machine.Kmd.SinkFor(process.Id, Context), o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
    }

    /// <summary>The scenario's context.</summary>
    public ContextSpec Spec { get; }

    /// <summary>Index in scenario order.</summary>
    public int Index { get; }

    /// <summary>The observer handle.</summary>
    public int Handle { get; }

    /// <summary>The VidSch context.</summary>
    public VidSchContext Context { get; }

    /// <inheritdoc />
    public SubmissionStatus StatusOf(long id) => Context.StatusOf(id);

    /// <summary>Buffers queued and not yet retired or failed.</summary>
    public long Outstanding => Context.Submitted - Context.Completed - Context.Failed;

    /// <summary>
    /// When set (a compositor on the render engine), the context's DRAW_RECTS compose the desktop from the other
    /// applications' surfaces instead of drawing bands (seed 001 §9.3).
    /// </summary>
    public DesktopComposer? Composer { get; set; }

    /// <summary>Submissions the KMD rejected (a misbehaving application's privileged packet or bad address).</summary>
    public int Rejections { get; private set; }

    /// <summary>
    /// Builds and submits the <paramref name="index"/>-th buffer (one ring-0 gate entry). A rejection by the KMD is
    /// a fault of this application only (seed 001 §3.7): counted, nothing queued. Returns the submission id, or 0.
    /// </summary>
    public long Submit(int index, MisbehaviourKind? misbehaviour, ulong cycle)
    {
        var costs = _machine.Device.Options.PacketCosts;
        try
        {
            if (misbehaviour is { } m) EncodeMisbehaviour(m);
            else Encode(index, costs);
            _umd.Flush();
            return Context.Submitted;
        }
        catch (CommandBufferRejectedException e)
        {
            Rejections++;
            _observer.Faulted(Handle, cycle, $"rejected by the KMD: {RejectionName(e.Reason)}", (ulong)Math.Max(0, e.Offset));
            return 0;
        }
    }

    private void EncodeMisbehaviour(MisbehaviourKind kind)
    {
        switch (kind)
        {
            case MisbehaviourKind.HungWait:
                // A WAIT on a counter nobody signals: the engine yields and retries forever; VidSch's TDR resets it.
                _umd.Wait(_fencePage, 64);
                break;
            case MisbehaviourKind.PrivilegedCommand:
            {
                // A privileged packet in a limited buffer: the KMD's validation refuses it (seed 001 §7).
                var span = _umd.GetSpan(PacketMixEncoder.MisbehaviourDwords);
                int n = PacketMixEncoder.EncodeMisbehaviour(span, kind, new SubmissionTargets(default, 0, 0, 0));
                _umd.Advance(n);
                break;
            }
            default:
            {
                // An operand past the end of its allocation: the KMD's bounds check refuses it.
                var (h, bytes) = _process.Resource(0);
                _umd.Fill(h, bytes, 0xBAD, 4096);
                break;
            }
        }
    }

    private void Encode(int frame, PacketCosts costs)
    {
        var mix = Spec.Submission.Packets;
        int workPackets = mix.DrawRects + mix.Dispatch + mix.Fill + mix.Copy + mix.VideoDecode;
        long share = workPackets == 0 ? 0 : (long)Math.Min(Spec.Submission.WorkCycles / (ulong)workPackets, long.MaxValue / 4);
        ulong fillPerPacket = (ulong)Math.Max(4, (share - costs.FillBase) * costs.FillBytesPerCycle);
        ulong copyPerPacket = (ulong)Math.Max(4, (share - costs.CopyBase) * costs.CopyBytesPerCycle);

        var (target, targetBytes) = _process.Surface(frame);
        var geometry = SurfaceGeometry.For(targetBytes);
        var wc = _machine.Device.Options.WorkCosts;
        bool render = Spec.Engine == EngineKind.Render, compute = Spec.Engine == EngineKind.Compute;
        for (int i = 0; i < mix.Copy; i++)
        {
            // Texture → render target first (the draws land on top of it): every resource of the process is
            // touched over time (working sets move).
            var (h, bytes) = _process.Resource(frame * mix.Copy + i + 1);
            if (h == target) (h, bytes) = _process.Resource(frame * mix.Copy + i + 2);
            if (h == target) continue; // one allocation only: nothing to copy from
            ulong limit = Math.Min(bytes, targetBytes) & ~3UL;
            Repeat(copyPerPacket, limit, chunk => _umd.Copy(h, 0, target, 0, chunk));
        }
        if (render && mix.DrawRects > 0 && Composer is { } composer)
        {
            // The composed desktop: its surfaces named by allocation and offset (the KMD patches them).
            foreach (ref readonly var d in composer.Plan(geometry, frame))
                _umd.DrawRects(target, geometry.At(0), composer.Primitives(d), d.Source, d.SourceSurface);
        }
        for (int i = 0; i < mix.DrawRects && !(render && Composer is not null); i++)
        {
            // A band of rows in a colour that changes with the frame: as wide as the surface, or — a game's scene —
            // a block of varying width that moves sideways from frame to frame.
            ulong pixelsWanted = render ? (ulong)Math.Max(1, share - wc.PrimitiveSetup) * Math.Max(1u, wc.FillPixelsPerCycle) : fillPerPacket / 4;
            uint width = render && Spec.Kind == ContextKind.Game
                ? Math.Max(1, geometry.Width * (uint)(30 + (frame * 7 + i * 13) % 50) / 100) : geometry.Width;
            int x = (int)(((uint)frame * 29 + (uint)i * 181) % (geometry.Width - width + 1));
            ulong rows = Math.Max(1, pixelsWanted / width);
            uint argb = 0xFF000000u | (uint)(((frame * 53 + i * 97) & 0xFF) << 16) | (uint)(((frame * 11 + 160) & 0xFF) << 8) | (uint)((i * 61 + 96) & 0xFF);
            for (int r = 0; r < MaxRepeats && rows > 0; r++)
            {
                ulong band = Math.Min(rows, geometry.Height);
                ulong y = ((ulong)frame * 37 + (ulong)i * 101 + (ulong)r * 13) % (geometry.Height - band + 1);
                if (render && Spec.Kind == ContextKind.Game) DrawTiles(target, geometry, x, (int)y, width, (uint)band, argb);
                else if (render) _umd.DrawRects(target, geometry.At(0), [RectPrimitive.Fill(x, (int)y, width, (uint)band, argb)]);
                else _umd.Fill(target, y * geometry.Pitch, argb, band * geometry.Pitch);
                rows -= band;
            }
        }
        for (int i = 0; i < mix.Dispatch; i++)
        {
            var (h, bytes) = _process.Resource(frame * mix.Dispatch + i);
            if (compute)
            {
                // SAXPY over the buffer's two halves (x, y), in 4,096-element groups: the compute preemption unit.
                uint capacity = (uint)Math.Min(bytes / 8, int.MaxValue);
                ulong elements = (ulong)Math.Max(1, share) * Math.Max(1u, wc.ElementsPerCycle);
                for (int r = 0; r < MaxRepeats && elements > 0 && capacity > 0; r++)
                {
                    uint n = (uint)Math.Min(elements, capacity);
                    _umd.Saxpy(n, Math.Min(4096u, n), h, 0, h, bytes / 2, 1.0f);
                    elements -= n;
                }
            }
            else Repeat(fillPerPacket, bytes & ~3UL, chunk => _umd.Fill(h, 0, 0x3F800000u, chunk));
        }
        for (int i = 0; i < mix.Fill; i++)
        {
            var (h, bytes) = _process.Resource(frame * mix.Fill + i);
            Repeat(fillPerPacket, bytes & ~3UL, chunk => _umd.Fill(h, 0, 0x01010101u * (byte)(frame + i), chunk));
        }
        for (int i = 0; i < mix.VideoDecode; i++)
            Repeat(fillPerPacket, geometry.Bytes, chunk => _umd.Fill(target, 0, 0xFF204060u + (uint)frame, chunk));
        Span<uint> data = [(uint)frame];
        for (int i = 0; i < mix.WriteData; i++) _umd.WriteData(_fencePage, 8, data);
        for (int i = 0; i < mix.Nop; i++) _umd.Nop();
        for (int i = 0; i < mix.Fence; i++) _umd.Fence(_fencePage, 0, (ulong)frame + 1);
        if (_umd.PendingDwords == 0) _umd.Nop(); // an empty mix still submits one buffer
    }

    // A game's block as a 4 × 2 grid of tiles in shades of its colour (the same pixels: the same device work), so a
    // frame looks like a scene of many objects rather than flat bands.
    private void DrawTiles(AllocationHandle target, SurfaceGeometry geometry, int x, int y, uint width, uint height, uint argb)
    {
        const int Columns = 4, Rows = 2;
        Span<RectPrimitive> tiles = stackalloc RectPrimitive[Columns * Rows];
        int n = 0;
        for (int r = 0; r < Rows; r++)
            for (int c = 0; c < Columns; c++)
            {
                uint x0 = width * (uint)c / Columns, x1 = width * (uint)(c + 1) / Columns;
                uint y0 = height * (uint)r / Rows, y1 = height * (uint)(r + 1) / Rows;
                if (x1 == x0 || y1 == y0) continue;
                int shade = (c * 3 + r * 5) % 6 * 18; // lighter tiles: an object's lit faces
                uint colour = 0xFF000000u | Lighten(argb >> 16, shade) << 16 | Lighten(argb >> 8, shade) << 8 | Lighten(argb, shade);
                tiles[n++] = RectPrimitive.Fill(x + (int)x0, y + (int)y0, x1 - x0, y1 - y0, colour);
            }
        _umd.DrawRects(target, geometry.At(0), tiles[..n]);
    }

    private static uint Lighten(uint channel, int by) => (uint)Math.Min(255, (int)(channel & 0xFF) + by);

    // Emits packets of at most `limit` bytes until `wanted` bytes are covered (bounded by MaxRepeats).
    private static void Repeat(ulong wanted, ulong limit, Action<ulong> emit)
    {
        if (limit < 4) return;
        for (int r = 0; r < MaxRepeats && wanted >= 4; r++)
        {
            ulong chunk = Math.Min(wanted, limit) & ~3UL;
            emit(chunk);
            wanted -= chunk;
        }
    }

    private static string RejectionName(CommandBufferRejection reason) => reason switch
    {
        CommandBufferRejection.PrivilegedPacket => "privileged packet",
        CommandBufferRejection.PrivilegedFence => "privileged fence",
        _ => reason.ToString(),
    };
}
