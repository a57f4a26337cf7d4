using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Engines.Work;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// Seed 001 §21 behaviours 12, 14, 26, 27 and 29 on a <see cref="Machine"/> in every scheduling model where the concept
/// exists (tests/Coproc.Fast.Tests/Advanced/BEHAVIOURS.md), each context made and fed the way its model does it
/// (<see cref="ModelStage"/>): basic — kernel-path contexts, command buffers copied in and patched by the KMD; advanced —
/// run-list contexts writing DMA buffers with VAs of their process's address space; hardware — ring-3 user queues under
/// the device's scheduling core, each process in its own GPU address space.
/// <para>
/// Behaviour 14 (an unmapped VA faults only its context) runs in the advanced and hardware models only: a basic-model
/// context has no VA of its own — its command buffers name allocations by handle and the KMD patches them to addresses
/// it validated (seed 001 §3.2), so an unmapped VA cannot be expressed there (a bad handle or offset is refused at
/// submission, `Kernel/KmdValidator`). Behaviour 27's limited-buffer variant is the advanced model's
/// (`Advanced/NamedBehaviourTests.Behaviour27_…`); here a user queue is itself a limited buffer (native-layout.md §13.7).
/// </para>
/// </summary>
[TestFixture]
public class BehavioursInEveryModelTests
{
    // ---- behaviour 12: context save/restore ----

    private const uint LongWidth = 256, LongHeight = 256;

    // 64 primitives alternating opaque column fills and blended row bands over a 256×256 target (~50k cycles of DRAW_RECTS,
    // native-layout.md §8A.5): long enough for another context's submission to arrive while it runs, and order-dependent
    // (each band blends over the columns drawn before it), so a primitive lost or drawn twice on resume shows in the bytes.
    private static RectPrimitive[] LongScene() => [.. Enumerable.Range(0, 64).Select(i => i % 2 == 0
        ? RectPrimitive.Fill(i * 4, 0, 32, LongHeight, 0xFF000000u | (uint)i * 0x030507u)
        : RectPrimitive.BlendColor(0, i * 4, LongWidth, 32, 0x80_20_40_60u + (uint)i))];

    private static byte[] Expected(uint width, uint height, RectPrimitive[] scene)
    {
        var pixels = new uint[width * height];
        DrawRectsReference.Draw(pixels, Surface.Packed(0, width, height), [], default, scene);
        return MemoryMarshal.AsBytes(pixels.AsSpan()).ToArray();
    }

    // Basic: a higher-priority kernel-path context's buffer makes VidSch switch the engine (seed 001 §5.5 preemption; the
    // save area says Requested). Advanced: an equal run-list context and a short quantum: the quantum tick makes the
    // scheduler submit a new run list (NewRunList). Hardware: a user queue keeps the engine for its time slice (the
    // scheduler quantum unless given, so a short one here); at its end the scheduling core gives the engine to the
    // higher-priority queue rung meanwhile (native-layout.md §13.4, §13.7).
    private static ModelStage PreemptionStage(SchedulingModel model) => ModelStage.For(model, o => o with
    {
        RunLists = o.RunLists with { QuantumCycles = 10_000 },
        Scheduler = o.Scheduler with { QuantumCycles = 10_000 },
    });

    private static int CompetitorPriority(SchedulingModel model) => model == SchedulingModel.Advanced ? 2 : 8;

    [TestCase(SchedulingModel.Basic, Category = ModelCategory.Basic)]
    [TestCase(SchedulingModel.Advanced, Category = ModelCategory.Advanced)]
    [TestCase(SchedulingModel.Hardware, Category = ModelCategory.Hardware)]
    public void Behaviour12_GivenAContextPreemptedInsideALongDraw_WhenItIsResumedFromItsSaveArea_ThenItEndsWithTheUninterruptedResult(SchedulingModel model)
    {
        var scene = LongScene();
        var expected = Expected(LongWidth, LongHeight, scene);

        // Given context C drawing the long scene, then writing its fence.
        (byte[] Pixels, ContextSaveArea AtPreemption, ulong PositionAtPreemption, ulong DrawPosition, uint PreemptionsAtEnd) Run(bool preempt)
        {
            using var stage = PreemptionStage(model);
            var c = stage.NewContext(1, priority: 2);
            var target = stage.Allocate((int)(LongWidth * LongHeight * 4));
            var fences = stage.Allocate(4096);
            var draw = c.Submit(r => { r.Mark(); r.Draw(target, LongWidth, LongHeight, scene); r.Fence(fences, 0, 1); });
            ContextSaveArea atPreemption = default;
            ulong positionAtPreemption = ulong.MaxValue;
            if (preempt)
            {
                // When, once the draw has started, another context's work arrives and the engine switches C out.
                Assert.That(stage.Machine.RunUntil(() => stage.Read32(target, 0) != 0, 10_000_000), Is.True, "the draw started");
                Assert.That(c.Saved().Preemptions, Is.Zero);
                var other = stage.NewContext(2, CompetitorPriority(model));
                other.Submit(r => { r.Fill(fences, 64, 0x0BAD_CAFE, 256); r.Fence(fences, 8, 1); });
                Assert.That(stage.Machine.RunUntil(() => c.Saved().Preemptions > 0, 10_000_000), Is.True, $"{model}: C was preempted");
                atPreemption = c.Saved();
                positionAtPreemption = c.PositionIn(atPreemption);
                Assert.That(stage.Machine.RunUntil(() => stage.Read64(fences, 8) == 1, 10_000_000), Is.True, "the other context ran");
                Assert.That(stage.Read64(fences, 0), Is.Zero, "...while C's draw was still unfinished");
            }
            Assert.That(stage.Machine.RunUntil(() => stage.Read64(fences, 0) == 1, 100_000_000), Is.True, "C finished");
            Assert.That(stage.Machine.RunUntilIdle(), Is.True);
            Assert.That(c.Context.IsStopped, Is.False);
            return (stage.Bytes(target).ToArray(), atPreemption, positionAtPreemption, draw.Marks[0], c.Saved().Preemptions);
        }

        var reference = Run(preempt: false);
        var interrupted = Run(preempt: true);

        // Then the save area held C inside its DRAW_RECTS — between two of its primitives, the packet not retired...
        var saved = interrupted.AtPreemption;
        Assert.That(interrupted.PositionAtPreemption, Is.EqualTo(interrupted.DrawPosition), "saved on the DRAW_RECTS packet");
        Assert.That(saved.Work.Step, Is.GreaterThan(0u).And.LessThan((uint)scene.Length), "saved between primitives of the one DRAW_RECTS");
        Assert.That(saved.Flags & ContextFlags.Faulted, Is.EqualTo((ContextFlags)0));
        Assert.That(ContextSaveArea.IsFaultReason(saved.LastSwitchReason), Is.False, $"switched out by the scheduler, not a fault ({saved.LastSwitchReason})");
        // A queue whose time slice ended inside its work (not on a WAIT, not drained) is saved as the scheduling core's request.
        if (model == SchedulingModel.Hardware) Assert.That(saved.LastSwitchReason, Is.EqualTo(SwitchReason.Requested));
        Assert.That(saved.CyclesRun, Is.GreaterThan(0UL));
        // ...and resuming from it gives byte for byte what the uninterrupted run (never preempted) and the CPU give.
        Assert.That(reference.PreemptionsAtEnd, Is.Zero, "the reference run was not preempted");
        Assert.That(interrupted.PreemptionsAtEnd, Is.GreaterThan(0u));
        AssertBytes(reference.Pixels, expected, "uninterrupted run vs CPU");
        AssertBytes(interrupted.Pixels, reference.Pixels, "preempted run vs uninterrupted run");
    }

    // ---- behaviour 14: an unmapped VA faults only that context ----

    private const ulong UnmappedVa = 0x7700_0000;

    [TestCase(SchedulingModel.Advanced, Category = ModelCategory.Advanced)]
    [TestCase(SchedulingModel.Hardware, Category = ModelCategory.Hardware)]
    public void Behaviour14_GivenAContextWritingAnUnmappedVa_WhenItRuns_ThenOnlyItFaults_AndAnotherProcesssContextCompletesWithCorrectBytes(SchedulingModel model)
    {
        // Given process 1's context writing a VA nothing maps in its address space (which faults on invalid VAs), and
        // process 2's context filling a surface, queued behind it on the same engine.
        using var stage = ModelStage.For(model);
        var bad = stage.NewContext(1);
        var good = stage.NewContext(2);
        var surface = stage.Allocate(64 << 10);
        var fences = stage.Allocate(4096);
        bad.Submit(r => { r.WriteDataToVa(UnmappedVa, 0xDEAD); r.Fence(fences, 0, 1); });
        good.Submit(r => { r.Fill(surface, 0, 0x5A5A_5A5Au, 64 << 10); r.Fence(fences, 8, 1); });

        // When both run.
        Assert.That(stage.Machine.RunUntil(() => stage.Read64(fences, 8) == 1 && bad.Context.IsStopped, 100_000_000), Is.True);
        Assert.That(stage.Machine.RunUntilIdle(), Is.True);

        // Then the bad context stopped on a memory fault at that VA, its later fence never written...
        var saved = bad.Saved();
        Assert.That(bad.Context.IsStopped, Is.True);
        Assert.That((saved.Fault.Reason, saved.Fault.Address), Is.EqualTo((FaultReason.MemoryFault, UnmappedVa)));
        Assert.That(stage.Read64(fences, 0), Is.Zero);
        // ...and the other process's context did not: its fill completed with the right bytes.
        Assert.That(good.Context.IsStopped, Is.False);
        Assert.That(good.Saved().Fault.Reason, Is.EqualTo(FaultReason.None));
        Assert.That(MemoryMarshal.Cast<byte, uint>(stage.Bytes(surface)).ToArray(), Is.All.EqualTo(0x5A5A_5A5Au));
    }

    // ---- behaviours 26 and 27: a fence and a trap after a draw ----

    private const uint Side = 128;

    // Sixteen primitives alternating opaque fills and blends over a 128×128 target: the packet runs for ~3.6k cycles.
    private static RectPrimitive[] Scene() => [.. Enumerable.Range(0, 16).Select(i => i % 2 == 0
        ? RectPrimitive.Fill(i * 8, 0, 16, Side, 0xFF000000u | (uint)i * 0x0F0F0Fu)
        : RectPrimitive.BlendColor(0, i * 8, Side, 16, 0x80_20_40_60))];

    // The machine steps the device 64 cycles at a time while it is busy, so memory is observed many times during the draw.
    private static ModelStage FineSteppedStage(SchedulingModel model) => ModelStage.For(model, o => o with { StepCycles = 64 });

    [TestCase(SchedulingModel.Basic, Category = ModelCategory.Basic)]
    [TestCase(SchedulingModel.Advanced, Category = ModelCategory.Advanced)]
    [TestCase(SchedulingModel.Hardware, Category = ModelCategory.Hardware)]
    public void Behaviour26_GivenAWriteFenceAfterADraw_WhenTheEngineIsObservedThroughout_ThenTheFenceLandsOnlyOnceEveryPixelIsVisible(SchedulingModel model)
    {
        // Given draw D followed by write fence F.
        using var stage = FineSteppedStage(model);
        var c = stage.NewContext(1);
        var target = stage.Allocate((int)(Side * Side * 4));
        var fences = stage.Allocate(4096);
        var scene = Scene();
        var expected = Expected(Side, Side, scene);
        c.Submit(r => { r.Draw(target, Side, Side, scene); r.Fence(fences, 0, 5); });

        // When memory is looked at after every step: while F is not there, D may be anywhere; once it is, D is complete.
        int partial = 0;
        bool completeWhenFenced = false;
        bool Observe()
        {
            if (stage.Read64(fences, 0) == 5)
            {
                completeWhenFenced = stage.Bytes(target).SequenceEqual(expected);
                return true;
            }
            var now = stage.Bytes(target);
            if (now.ContainsAnyExcept((byte)0) && !now.SequenceEqual(expected)) partial++;
            return false;
        }
        Assert.That(stage.Machine.RunUntil(Observe, 100_000_000), Is.True, "F landed");

        // Then every pixel of D was visible when F was, and D was seen half-drawn before (so an early F would have been seen).
        Assert.That(completeWhenFenced, Is.True, "all of D's pixels were visible when F's value was");
        Assert.That(partial, Is.GreaterThan(3), "D was observed part-drawn several times before F landed");
    }

    [TestCase(SchedulingModel.Basic, Category = ModelCategory.Basic)]
    [TestCase(SchedulingModel.Advanced, Category = ModelCategory.Advanced)]
    [TestCase(SchedulingModel.Hardware, Category = ModelCategory.Hardware)]
    public void Behaviour27_GivenADrawAFenceAndATrap_WhenTheTrapRaisesTheLine_ThenTheDrawAndTheFenceHaveAlreadyRetired(SchedulingModel model)
    {
        // Given draw D, fence F, trap T (77) in one submission.
        using var stage = FineSteppedStage(model);
        var m = stage.Machine;
        var c = stage.NewContext(1);
        var target = stage.Allocate((int)(Side * Side * 4));
        var fences = stage.Allocate(4096);
        var scene = Scene();
        var expected = Expected(Side, Side, scene);
        // The device's interrupt pin (the machine polls it, so nothing else is connected): at the moment T's interrupt
        // raises it, what is in memory.
        var atTrap = new List<(ulong Fence, bool Drawn)>();
        m.Device.Interrupts.Line = new ObservingLine(() =>
        {
            uint status = m.Bus.ReadRegister32(MmioMap.InterruptBase + InterruptRegisters.Status);
            if ((status & (1u << (int)InterruptSource.Trap)) != 0)
                atTrap.Add((stage.Read64(fences, 0), stage.Bytes(target).SequenceEqual(expected)));
        });
        var tap = new RecordingTap();
        m.InterruptTap = tap;
        c.Submit(r => { r.Draw(target, Side, Side, scene); r.Fence(fences, 0, 1); r.Trap(77); });

        // When it runs.
        Assert.That(m.RunUntilIdle(), Is.True);

        // Then T raised the line once, when D's pixels and F's value were already in memory, and the driver got it.
        Assert.That(atTrap, Is.EqualTo(new[] { (1UL, true) }), "one rise of the line for T, after D and F retired");
        var traps = tap.Records.Where(r => r.Source == InterruptRecord.Trap).ToList();
        Assert.That(traps.Select(r => (r.ContextId, r.Data0)), Is.EqualTo(new[] { ((uint)c.Context.Id, 77UL) }));
        Assert.That(c.Context.IsStopped, Is.False);
    }

    // ---- behaviour 29: WAIT / SIGNAL on a counter ----

    [TestCase(SchedulingModel.Basic, Category = ModelCategory.Basic)]
    [TestCase(SchedulingModel.Advanced, Category = ModelCategory.Advanced)]
    [TestCase(SchedulingModel.Hardware, Category = ModelCategory.Hardware)]
    public void Behaviour29_GivenAWaitOnAZeroCounter_ThenItRewindsAndSwitchesAway_ASignalLetsItContinue_AndOverflowIsAnError(SchedulingModel model)
    {
        // Given counter V = 0, waiter W: log[0] = 1, WAIT(V), log[1] = 3; and signaller S of a lower priority (it gets the
        // engine only if W gives it up): log[2] = 2, a long FILL, SIGNAL(V).
        using var stage = ModelStage.For(model);
        var m = stage.Machine;
        var tap = new RecordingTap();
        m.InterruptTap = tap;
        var shared = stage.Allocate(4096); // +0: V, +16: a counter about to overflow, +64..: the log
        var scratch = stage.Allocate(1 << 20);
        var w = stage.NewContext(1, priority: 4);
        var s = stage.NewContext(1, priority: 1);
        var wait = w.Submit(r =>
        {
            r.WriteData(shared, 64, 1);
            r.Mark();
            r.Wait(shared, 0);
            r.WriteData(shared, 68, 3);
        });
        s.Submit(r => { r.WriteData(shared, 72, 2); r.Fill(scratch, 0, 0x5151_5151u, 1 << 20); r.Signal(shared, 0); });

        // When W reaches WAIT(V) with V = 0: the engine switches away from it to S, W's saved position on the WAIT itself.
        Assert.That(m.RunUntil(() => stage.Read32(shared, 72) == 2, 10_000_000), Is.True, $"{model}: S got the engine");
        var saved = w.Saved();
        Assert.That(stage.Read32(shared, 0), Is.Zero, "S has not signalled yet");
        Assert.That(w.PositionIn(saved), Is.EqualTo(wait.Marks[0]), "the instruction pointer is reset to the WAIT");
        Assert.That(saved.Flags & ContextFlags.Waiting, Is.EqualTo(ContextFlags.Waiting), "saved as stopped on a WAIT");
        // In every model, a user queue left for another queue included (Device/Engines/CommandProcessor.UserQueues.cs LoadUserQueue).
        Assert.That(saved.LastSwitchReason, Is.EqualTo(SwitchReason.Yielded), "W yielded on its WAIT");
        Assert.That((stage.Read32(shared, 64), stage.Read32(shared, 68)), Is.EqualTo((1u, 0u)));

        // When S signals (V becomes 1).
        Assert.That(m.RunUntil(() => stage.Read32(shared, 68) == 3, 100_000_000), Is.True, "W continued");
        Assert.That(m.RunUntilIdle(), Is.True);

        // Then W re-executed the WAIT, took V back to 0 and continued.
        Assert.That((stage.Read32(shared, 64), stage.Read32(shared, 68), stage.Read32(shared, 72)), Is.EqualTo((1u, 3u, 2u)));
        Assert.That(stage.Read32(shared, 0), Is.Zero);
        Assert.That(tap.Records.Where(r => r.Source == InterruptRecord.Error), Is.Empty);

        // And a SIGNAL on 0xFFFFFFFF wraps to 0 and raises an Error interrupt naming the counter, and S's stream goes on.
        stage.Write32(shared, 16, uint.MaxValue);
        s.Submit(r => { r.Signal(shared, 16); r.WriteData(shared, 76, 4); });
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(stage.Read32(shared, 16), Is.Zero, "wrapped");
        Assert.That(stage.Read32(shared, 76), Is.EqualTo(4u), "the stream continued after the overflow");
        var errors = tap.Records.Where(r => r.Source == InterruptRecord.Error).ToList();
        Assert.That(errors.Select(r => (r.ContextId, r.Data0)), Is.EqualTo(new[] { ((uint)s.Context.Id, s.AddressOf(shared, 16)) }),
            "one Error interrupt, of S, naming the counter by the address S's packet used");
        Assert.That(s.Context.IsStopped || w.Context.IsStopped, Is.False);
    }

    private static void AssertBytes(byte[] actual, byte[] expected, string what)
    {
        int i = actual.AsSpan().CommonPrefixLength(expected);
        Assert.That(i == expected.Length && actual.Length == expected.Length, Is.True,
            $"{what}: first difference at byte {i} of {expected.Length} (actual length {actual.Length})");
    }

    private sealed class ObservingLine(Action onRise) : IInterruptLine
    {
        public void SetLevel(bool asserted)
        {
            if (asserted) onRise();
        }
    }

    private sealed class RecordingTap : IInterruptTap
    {
        public List<InterruptRecord> Records { get; } = new();

        public void OnInterrupts(ReadOnlySpan<InterruptRecord> records) => Records.AddRange(records.ToArray());
    }
}
