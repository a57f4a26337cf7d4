using System.Diagnostics;
using System.Globalization;
using System.Text;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>
/// Submit: an attacker's recordings through <see cref="Machine.TrySubmit"/> in all three scheduling models (docs/models.md
/// "One submission call"). Each case builds a machine of a random model with an attacker, a victim and a bystander
/// (<see cref="SubmitWorld"/>) and runs a plan of steps: recordings of every <see cref="WorkRecorder"/> operation on any
/// handle (its own, a share later taken back, the victim's, stale, invented, null) at boundary, past-the-end and
/// overflowing offsets and lengths, recordings too large for their path, callbacks that throw or swallow the recorder's
/// refusals or unregister their own queue, on live, unregistered and another machine's contexts, interleaved with
/// running the machine. Oracles, from the XML docs of <c>TrySubmit</c> and docs/models.md: TrySubmit returns or throws
/// only the documented exception for what the recording did; it never accepts a recording naming a handle the attacker
/// may not use now or an operand past the end of its allocation; a refused recording runs none of its work; running
/// throws nothing and the machine goes idle once the attacker's WAITs are satisfied; no byte of the victim's or the
/// bystander's memory (or kernel-view PTE of pinned memory) changes; the attacker's own memory changes only where its
/// accepted recordings wrote; and the victim's fresh job through TrySubmit finishes with every byte right.
/// </summary>
internal sealed class SubmitCampaign : ICampaign
{
    public string Name => "submit";

    public string Description => "attacker recordings through Machine.TrySubmit in every model; documented errors only, victims unchanged, fresh jobs right";

    public void Run(CampaignSettings settings, CampaignStats stats, Heartbeat heartbeat)
    {
        var clock = Stopwatch.StartNew();
        for (long n = 0; n < settings.Iterations && clock.Elapsed < settings.Budget; n++)
        {
            long i = settings.FirstCase + n;
            heartbeat.Beat($"case {i}");
            var rng = FuzzRandom.ForCase(settings.Seed, i);
            var plan = SubmitPlan.Generate(ref rng);
            stats.Count($"cases:{plan.Model}");
            var broken = new SubmitRun(plan, stats, heartbeat).Execute();
            stats.Cases++;
            if (broken is not null) throw Fail(settings, i, plan, broken);
        }
    }

    private static CampaignFailure Fail(CampaignSettings s, long caseNumber, SubmitPlan plan, SubmitBroken broken)
    {
        string kind = Kind(broken.What);
        var repro = new StringBuilder();
        var small = plan;
        var deadline = Stopwatch.StartNew();
        // Drop steps, then operations, while the same kind of failure stays.
        for (int k = small.Steps.Count - 1; k >= 0 && deadline.Elapsed.TotalSeconds < 30; k--)
        {
            var trial = small with { Steps = small.Steps.Where((_, j) => j != k).ToList() };
            if (Kind(Replay(trial)) == kind) small = trial;
        }
        for (int k = 0; k < small.Steps.Count && deadline.Elapsed.TotalSeconds < 45; k++)
            for (int o = (small.Steps[k].Ops?.Length ?? 0) - 1; o >= 0 && small.Steps[k].Ops!.Length > 1; o--)
            {
                var steps = small.Steps.ToList();
                var st = steps[k];
                int throwAt = st.ThrowAt < 0 ? -1 : st.ThrowAt > o ? st.ThrowAt - 1 : st.ThrowAt == o ? -1 : st.ThrowAt;
                steps[k] = st with { Ops = st.Ops!.Where((_, j) => j != o).ToArray(), ThrowAt = throwAt };
                var trial = small with { Steps = steps };
                if (Kind(Replay(trial)) == kind) small = trial;
            }
        bool minimized = small.Steps.Count < plan.Steps.Count || small.Steps.Sum(x => x.Ops?.Length ?? 0) < plan.Steps.Sum(x => x.Ops?.Length ?? 0);
        repro.AppendLine(CultureInfo.InvariantCulture, $"  broken at step {broken.Step} of the case (SubmitWorld: fuzz/Coproc.Fast.Fuzz/Harness/SubmitWorld.cs)");
        repro.AppendLine(minimized ? "  minimized (the same kind of failure):" : "  the case:");
        repro.Append(small.Describe());
        repro.AppendLine(CultureInfo.InvariantCulture, $"  this case alone: dotnet run --project fuzz/Coproc.Fast.Fuzz -c Release -- campaign submit --seed {s.Seed} --case {caseNumber} --iterations 1");
        return new CampaignFailure(caseNumber, broken.What, repro.ToString(), broken.Inner);
    }

    private static string? Replay(SubmitPlan plan)
    {
        try { return new SubmitRun(plan, new CampaignStats(), new Heartbeat()).Execute()?.What; }
        catch (Exception e) { return $"replay threw {e.GetType().FullName}"; }
    }

    // Failures of the same kind: the message up to its first number, colon or parenthesis.
    private static string Kind(string? what)
    {
        if (what is null) return "";
        int cut = what.IndexOfAny(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', '(']);
        return cut > 0 ? what[..cut] : what;
    }
}

/// <summary>What broke, at which step of the case.</summary>
internal sealed record SubmitBroken(int Step, string What, Exception? Inner = null);

/// <summary>The exception an attacker's record callback throws on purpose.</summary>
internal sealed class AttackerCallbackException() : Exception("the attacker's record callback threw");

/// <summary>One execution of a <see cref="SubmitPlan"/> on a fresh <see cref="SubmitWorld"/>, with the oracles.</summary>
internal sealed class SubmitRun(SubmitPlan plan, CampaignStats stats, Heartbeat heartbeat)
{
    private const ulong FreshJobCycles = 500_000_000, IdleCycles = 800_000_000;
    private const int RunListBufferDwords = 16 * 1024; // docs/models.md: a run-list recording is at most 16,384 dwords
    private const uint WitnessMarker = 0x5EC00000;

    private readonly List<(int Step, ulong Offset, uint Marker)> _refusedWitnesses = new();
    private bool _kernelNamedShare; // an accepted kernel-path recording named the share since the machine was last idle
    private bool _vaNamedShare; // an accepted VA-path recording wrote the share since the machine was last idle
    // The share was taken back while VA-path work writing it was queued: that work's VAs may since name another mapping of
    // the attacker's (the space reuses the VA), so its own memory may change where no recording named it. docs/models.md
    // promises only that the memory taken back is out of reach; the stray-write check of that checkpoint is skipped.
    private bool _strayCheckVoid;
    private SubmitWorld _world = null!;

    public SubmitBroken? Execute()
    {
        SubmitWorld world;
        try { world = new SubmitWorld(plan.Model, plan.AttackerPriority, plan.BigManaged); }
        catch (Exception e) { return new SubmitBroken(-1, $"setting up the machine threw {e.GetType().FullName}: {e.Message}", e); }
        using (world)
        {
            _world = world;
            for (int i = 0; i < plan.Steps.Count; i++)
            {
                heartbeat.Beat();
                var st = plan.Steps[i];
                string? what;
                Exception? inner = null;
                try
                {
                    what = st.Kind switch
                    {
                        StepKind.Submit => Submit(i, st, out inner),
                        StepKind.Run => Run(() => world.Machine.RunFor(st.Cycles), out inner),
                        StepKind.RunUntilIdle => Run(() => world.Machine.RunUntilIdle(st.Cycles), out inner),
                        StepKind.Revoke => Revoke(),
                        StepKind.ReplaceQueue => ReplaceQueue(),
                        _ => Checkpoint(st.Admin),
                    };
                }
                catch (Exception e)
                {
                    what = $"the harness's step threw {e.GetType().FullName}: {e.Message}";
                    inner = e;
                }
                if (what is not null) return new SubmitBroken(i, what, inner);
            }
            long evicted = 0, pagedIn = 0;
            foreach (var sch in world.Machine.Schedulers)
                if (sch is not null)
                {
                    evicted += (long)sch.TotalBytesEvicted;
                    pagedIn += (long)sch.TotalBytesPagedIn;
                }
            if (pagedIn > 0) stats.Count("cases with page-ins (kernel path)");
            if (evicted > 0) stats.Count("cases with evictions (kernel path)");
        }
        return null;
    }

    private static string? Run(Action run, out Exception? inner)
    {
        inner = null;
        try { run(); }
        catch (Exception e)
        {
            inner = e;
            return $"host exception from running the machine: {e.GetType().FullName}: {e.Message}";
        }
        return null;
    }

    private string? Revoke()
    {
        if (!_world.IsShared) return null;
        // A kernel-path buffer was patched with the share's addresses when the KMD accepted it and runs as accepted; only
        // the VA paths' mappings go with the share (docs/models.md). So with such a buffer queued, the share is taken back
        // once the machine is idle.
        if (_kernelNamedShare && _world.ReleaseAndRunUntilIdle(IdleCycles) is { } notIdle) return notIdle;
        _kernelNamedShare = false;
        if (_vaNamedShare) _strayCheckVoid = true;
        _world.Revoke(vaWorkQueued: _vaNamedShare);
        stats.Count("shares taken back");
        return null;
    }

    private string? ReplaceQueue()
    {
        _world.ReplaceQueue(0);
        stats.Count("queues unregistered");
        return null;
    }

    private string? Checkpoint(int admin)
    {
        stats.Count("checkpoints");
        if (_world.Ledger.FindChange(includeRings: false) is { } before) return before;
        if (_world.FreshJob(FreshJobCycles) is { } fresh) return "fresh victim job: " + fresh;
        stats.Count("fresh jobs right");
        if (_world.ReleaseAndRunUntilIdle(IdleCycles) is { } notIdle) return notIdle;
        _kernelNamedShare = _vaNamedShare = false;
        foreach (uint p in new[] { SubmitWorld.Attacker, SubmitWorld.Victim, SubmitWorld.Bystander })
            if (_world.Machine.Kmd.Process(p).Outstanding is > 0 and var n)
                return $"process {p} still has {n} kernel-path submission(s) outstanding while the machine says idle";
        if (_world.Ledger.FindChange(includeRings: false) is { } after) return after;
        if (_strayCheckVoid) stats.Count("stray-write checks skipped (share taken back with work queued)");
        else if (_world.FindStrayWrite() is { } stray) return "stray write into the attacker's own memory: " + stray;
        _strayCheckVoid = false;
        var witness = _world.Handle(SubmitWorld.Witness);
        stats.Count("refused witnesses checked", _refusedWitnesses.Count);
        foreach (var (step, offset, marker) in _refusedWitnesses)
            if (_world.Machine.Device.Memory.Read32(_world.Machine.VidMm.PhysicalAddressOf(witness, offset)) == marker)
                return $"a refused recording ran: the witness marker of step {step} was written";
        if ((admin & 1) != 0 && _world.FreeA3() is { } freeA3) return freeA3;
        if ((admin & 2) != 0 && _world.VictimAllocates() is { } alloc) return alloc;
        if ((admin & 4) != 0 && _world.OwnerFreesShared() is { } freeShared) return freeShared;
        _world.SnapshotAttacker();
        _world.Ledger.Refresh();
        return null;
    }

    // --- one TrySubmit and its oracle ---

    private string? Submit(int step, SubmitStep st, out Exception? inner)
    {
        inner = null;
        var world = _world;
        GpuContext context;
        bool mustThrowArgument = false;
        switch (st.Context)
        {
            case ContextChoice.Foreign:
                context = world.ForeignContext();
                mustThrowArgument = true;
                break;
            case ContextChoice.Dead when world.DeadContexts.Count > 0:
                context = world.DeadContexts[^1];
                mustThrowArgument = true;
                break;
            case ContextChoice.Copy:
                context = world.AttackerContexts[1];
                break;
            default:
                context = world.AttackerContexts[0];
                break;
        }
        bool kernelPath = context.Path == ContextPath.Kernel;
        bool runList = context is VaContext;
        var ops = new List<SubmitOp>();
        uint marker = WitnessMarker | (uint)step;
        ulong witnessOffset = (ulong)(step % 1024) * 4;
        if (st.Witness) ops.Add(new SubmitOp(OpKind.WriteData, SubmitWorld.Witness, witnessOffset, 4, 0, 0, marker, 0, 0, 0, 0, 1));
        ops.AddRange(st.Ops ?? []);
        int throwAt = st.ThrowAt < 0 ? -1 : st.ThrowAt + (st.Witness ? 1 : 0);

        // What the attacker may name now (the KMD's record and VidMm: the recording cannot change either).
        var facts = ops.Select(o => Facts(o)).ToArray();
        int dmaBufferDwords = kernelPath ? world.Machine.SchedulerFor(context.Engine).Options.DmaBufferDwords : 0;

        var recorded = new bool[ops.Count];
        _currentOps = ops;
        _currentFacts = facts;
        _currentContext = context;
        _currentDmaDwords = dmaBufferDwords;
        _currentRecordedDwords = () => Enumerable.Range(0, ops.Count).Where(i => recorded[i]).Sum(i => (long)VaDwords(ops[i]) * ops[i].Repeat);
        var swallowed = new List<(int Op, Exception Error)>();
        int failingOp = -1;
        Exception? failing = null, thrownOnPurpose = null;
        bool unregistered = false;
        bool Note(int op, Exception e)
        {
            failingOp = op;
            failing = e;
            return false;
        }
        void Record(WorkRecorder r)
        {
            for (int i = 0; i < ops.Count; i++)
            {
                if (i == throwAt) throw thrownOnPurpose = new AttackerCallbackException();
                bool ok = true;
                for (int k = 0; k < ops[i].Repeat && ok; k++)
                {
                    if (st.Swallow)
                    {
                        try { Apply(r, ops[i]); }
                        catch (Exception e)
                        {
                            swallowed.Add((i, e));
                            ok = false;
                        }
                    }
                    else
                    {
                        try { Apply(r, ops[i]); }
                        catch (Exception e) when (Note(i, e)) { throw; }
                    }
                }
                recorded[i] = ok;
            }
            if (st.UnregisterInside && context is UserQueueContext { IsUnregistered: false } q)
            {
                world.Machine.UserQueues.Unregister(q.Registration);
                unregistered = true;
            }
        }

        bool? result = null;
        Exception? error = null;
        try { result = world.Machine.TrySubmit(context, Record); }
        catch (Exception e) { error = e; }
        if (unregistered) world.ReplaceQueue(0);
        stats.Count("recordings");
        if (ops.Any(o => o.Repeat > 1)) stats.Count("large recordings");
        if (swallowed.Count > 0) stats.Count("recorder refusals swallowed", swallowed.Count);
        inner = error;
        string where = $"{context.Path} context {context.Id} ({plan.Model})";

        // Refusals the callback swallowed are still the recorder's documented ones.
        foreach (var (op, e) in swallowed)
            if (OpRefusal(op, e) is { } bad)
            {
                inner = e;
                return $"a recorder call threw an undocumented {e.GetType().FullName} on the {where} for op {op} {ops[op]}: {e.Message} ({bad})";
            }

        if (mustThrowArgument)
        {
            if (error is ArgumentException) { stats.Count("refused:foreign or unregistered context"); return null; }
            return error is null
                ? $"TrySubmit on {(st.Context == ContextChoice.Foreign ? "another machine's" : "an unregistered")} context returned {result} instead of throwing ArgumentException"
                : $"TrySubmit on {(st.Context == ContextChoice.Foreign ? "another machine's" : "an unregistered")} context threw {error.GetType().FullName} instead of ArgumentException: {error.Message}";
        }

        bool refused = result != true;
        if (error is not null)
        {
            string? verdict;
            if (ReferenceEquals(error, thrownOnPurpose)) verdict = null;
            else if (thrownOnPurpose is not null) verdict = "the callback's own exception did not come out as thrown";
            else if (ReferenceEquals(error, failing)) verdict = OpRefusal(failingOp, error);
            else verdict = PathRefusal(error);
            if (verdict is not null)
                return $"TrySubmit threw an undocumented {error.GetType().FullName} on the {where}: {error.Message} ({verdict})";
            stats.Count($"refused:{error.GetType().Name}" + (error is CommandBufferRejectedException c ? $":{c.Reason}" : ""));
        }
        else if (result == false) stats.Count("no room (false)");

        if (refused)
        {
            if (st.Witness && recorded[0]) _refusedWitnesses.Add((step, witnessOffset, marker));
            return null;
        }

        // Accepted: the whole recording was allowed.
        stats.Count("accepted");
        if (thrownOnPurpose is not null) return $"TrySubmit accepted a recording whose callback threw, on the {where}";
        // An empty recording (every operation refused and swallowed) submits nothing and is "accepted" on every path.
        if (unregistered && recorded.Any(r => r))
            return $"TrySubmit accepted a recording for a queue unregistered while it was made, on the {where}";
        long dwords = 0;
        for (int i = 0; i < ops.Count; i++)
        {
            if (!recorded[i]) continue;
            var f = facts[i];
            dwords += (long)VaDwords(ops[i]) * ops[i].Repeat;
            if (f.Forbidden is { } h)
                return $"TrySubmit accepted a recording naming {SubmitWorld.NameOf(h)}, which the attacker may not use now, on the {where}: op {i} {ops[i]}";
            if (f.PastEnd)
                return $"TrySubmit accepted an operand past the end of its allocation on the {where}: op {i} {ops[i]}";
        }
        if (runList && dwords > RunListBufferDwords)
            return $"TrySubmit accepted a run-list recording of {dwords} dwords (at most {RunListBufferDwords}) on the {where}";
        if (kernelPath && dmaBufferDwords > 0 && ops.Where((_, i) => recorded[i]).Any(o => o.Kind == OpKind.DrawRects && DrawRectsPacket.SizeInDwords(o.Primitives) > dmaBufferDwords))
            return $"TrySubmit accepted a packet larger than a DMA buffer on the {where}";
        for (int i = 0; i < ops.Count; i++)
            if (recorded[i]) Allow(ops[i], kernelPath);
        return null;
    }

    // The facts of one operation that the oracle needs, taken before the call.
    private readonly record struct OpFacts(int? Forbidden, bool PastEnd, bool PastEndEitherRule);

    private OpFacts Facts(SubmitOp o)
    {
        if (o.Kind == OpKind.Trap) return new OpFacts(null, false, false);
        int? forbidden = null;
        bool pastEnd = false, either = false;
        void Operand(int index, ulong offset, ulong length, ulong vaRuleLength)
        {
            if (!_world.AttackerMayUse(_world.Handle(index), out ulong size))
            {
                forbidden ??= index;
                return;
            }
            // An operand's first byte lies inside its allocation, even for zero bytes (docs/containment.md: a zero-length
            // operand at an offset equal to the size is OutOfBounds, on every path).
            bool past = offset >= size || length > size - offset;
            pastEnd |= past;
            either |= past || vaRuleLength > size - Math.Min(offset, size);
        }
        switch (o.Kind)
        {
            case OpKind.Fill: Operand(o.Target, o.Offset, o.Length, o.Length); break;
            case OpKind.Copy:
                Operand(o.Target, o.Offset, o.Length, o.Length);
                Operand(o.Source, o.SourceOffset, o.Length, o.Length);
                break;
            case OpKind.WriteData or OpKind.Wait or OpKind.Signal: Operand(o.Target, o.Offset, 4, 4); break;
            case OpKind.Fence: Operand(o.Target, o.Offset, 8, 8); break;
            case OpKind.DrawRects: Operand(o.Target, o.Offset, SpanBytes(o), (ulong)o.Pitch * o.Height); break;
        }
        return new OpFacts(forbidden, pastEnd, either);
    }

    // native-layout.md §8A.1: the bytes a surface covers (what the KMD checks on the kernel path).
    private static ulong SpanBytes(SubmitOp o) => o.Width == 0 || o.Height == 0 ? 0 : (ulong)o.Pitch * (o.Height - 1) + (ulong)o.Width * 4;

    // Dwords an operation takes on the VA paths (PacketWriter's packets).
    private static int VaDwords(SubmitOp o) => o.Kind switch
    {
        OpKind.Fill => Coproc.Fast.Device.Packets.PacketFormat.FillDwords,
        OpKind.Copy => Coproc.Fast.Device.Packets.PacketFormat.CopyDwords,
        OpKind.WriteData => Coproc.Fast.Device.Packets.PacketFormat.WriteDataFixedDwords + 1,
        OpKind.Fence => Coproc.Fast.Device.Packets.PacketFormat.FenceDwords,
        OpKind.Trap => Coproc.Fast.Device.Packets.PacketFormat.TrapDwords,
        OpKind.DrawRects => DrawRectsPacket.SizeInDwords(o.Primitives),
        _ => 3,
    };

    // Null when an exception a recorder call threw for op <op> is documented for it, else why not.
    private string? OpRefusal(int op, Exception e)
    {
        var o = OpAt(op);
        var f = _currentFacts![op];
        bool va = _currentContext!.Path != ContextPath.Kernel;
        switch (e)
        {
            case AllocationNotSharedException:
                return va && f.Forbidden is not null ? null : va ? "the operation names only allocations the attacker may use" : "documented for the VA paths only";
            case CommandBufferRejectedException c:
                if (!va) return "the kernel path's recorder does not refuse; the KMD does, after the recording";
                return c.Reason == CommandBufferRejection.OutOfBounds && f.PastEndEitherRule ? null
                    : $"reason {c.Reason} for an operation whose operands are {(f.PastEndEitherRule ? "past an end" : "inside their allocations")}";
            case ArgumentException:
                return o.Kind == OpKind.DrawRects && o.Primitives > DrawRectsPacket.MaxPrimitives ? null
                    : o.Kind == OpKind.DrawRects && !va && DrawRectsPacket.SizeInDwords(o.Primitives) > _currentDmaDwords ? null
                    : "not a packet too large for its path";
            default:
                return "not a documented exception";
        }
    }

    // Null when an exception TrySubmit itself threw (outside the recorder's calls) is documented, else why not.
    private string? PathRefusal(Exception e)
    {
        var context = _currentContext!;
        bool kernelPath = context.Path == ContextPath.Kernel;
        switch (e)
        {
            case CommandBufferRejectedException:
                return kernelPath ? null : "the VA paths refuse operands while recording";
            case AllocationNotSharedException:
                return "the VA paths refuse handles while recording";
            case ArgumentException:
                if (context is VaContext && _currentRecordedDwords() > RunListBufferDwords) return null;
                if (context is UserQueueContext && _currentOps!.Any(o => o.Kind == OpKind.DrawRects && DrawRectsPacket.SizeInDwords(o.Primitives) > 4096)) return null;
                if (context is UserQueueContext { IsUnregistered: true }) return null;
                return "the context is live and the recording fits its path";
            default:
                return "not a documented exception";
        }
    }

    private SubmitOp OpAt(int i) => _currentOps![i];

    private List<SubmitOp>? _currentOps;
    private OpFacts[]? _currentFacts;
    private GpuContext? _currentContext;
    private int _currentDmaDwords;
    private Func<long> _currentRecordedDwords = () => 0;

    private void Allow(SubmitOp o, bool kernelPath)
    {
        var w = _world;
        var h = w.Handle(o.Target);
        if (o.Target == SubmitWorld.VShared && kernelPath) _kernelNamedShare = true;
        if (o.Kind == OpKind.Copy && o.Source == SubmitWorld.VShared && kernelPath) _kernelNamedShare = true;
        if (o.Target == SubmitWorld.VShared && !kernelPath && o.Kind != OpKind.Trap) _vaNamedShare = true;
        switch (o.Kind)
        {
            case OpKind.Fill or OpKind.Copy: w.Allow(h, o.Offset, o.Offset + o.Length); break;
            case OpKind.WriteData or OpKind.Signal: w.Allow(h, o.Offset, o.Offset + 4); break;
            case OpKind.Wait:
                w.Allow(h, o.Offset, o.Offset + 4);
                w.NoteWait(h, o.Offset);
                break;
            case OpKind.Fence: w.Allow(h, o.Offset, o.Offset + 8); break;
            case OpKind.DrawRects: w.Allow(h, o.Offset, o.Offset + SpanBytes(o)); break;
        }
    }

    private void Apply(WorkRecorder r, SubmitOp o)
    {
        var h = _world.Handle(o.Target);
        switch (o.Kind)
        {
            case OpKind.Fill: r.Fill(h, o.Offset, o.Value, o.Length); break;
            case OpKind.Copy: r.Copy(h, o.Offset, _world.Handle(o.Source), o.SourceOffset, o.Length); break;
            case OpKind.WriteData: r.WriteData(h, o.Offset, o.Value); break;
            case OpKind.Fence: r.Fence(h, o.Offset, o.Value); break;
            case OpKind.Wait: r.Wait(h, o.Offset); break;
            case OpKind.Signal: r.Signal(h, o.Offset); break;
            case OpKind.Trap: r.Trap(o.Value); break;
            default:
                var primitives = new RectPrimitive[o.Primitives];
                for (int i = 0; i < primitives.Length; i++) primitives[i] = RectPrimitive.Fill(0, 0, o.Width, o.Height, o.Value);
                r.DrawRects(h, new Surface(o.Offset, o.Pitch, o.Width, o.Height, PixelFormat.Bgra8888), primitives);
                break;
        }
    }
}
