using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;
using Coproc.Fast.Tests.Engines.Work;
using Coproc.Fast.Tests.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Seed 001 §21 behaviours 12, 20, 26, 27 and 29, each as one test named after the behaviour. The other
/// behaviours already have behaviour-named tests; BEHAVIOURS.md maps every behaviour to its tests.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class NamedBehaviourTests
{
    private const int Side = 128;

    // Sixteen primitives alternating opaque fills and blends over a 128×128 target: the packet runs for ~3.6k cycles,
    // so a context switch lands between its primitives (seed 001 §4.1: interruptible finer than a whole DMA buffer).
    private static RectPrimitive[] Scene() => Enumerable.Range(0, 16).Select(i => i % 2 == 0
        ? RectPrimitive.Fill(i * 8, 0, 16, Side, 0xFF000000u | (uint)i * 0x0F0F0Fu)
        : RectPrimitive.BlendColor(0, i * 8, Side, 16, 0x80_20_40_60)).ToArray();

    private static void Draw(ref PacketWriter w, Surface target, RectPrimitive[] rects)
    {
        int n = DrawRectsPacket.SizeInDwords(rects.Length);
        DrawRectsPacket.Encode(w.GetSpan(n), target, rects);
        w.Advance(n);
    }

    [Test]
    public void Behaviour12_ContextSaveRestore_PreemptedInsideADraw_ResumesFromItsSaveArea_WithTheUninterruptedResult()
    {
        // Given context C drawing 16 primitives, and a reference machine that runs the same draw without interruption.
        (byte[] Pixels, uint Log, ContextSaveArea AtSwitch) Run(bool preempt)
        {
            using var m = new EngineTestMachine();
            var space = m.NewAddressSpace();
            var c = m.NewContext(space, 1);
            var other = m.NewContext(space, 2);
            ulong target = space.Alloc(Side * Side * 4), log = space.Alloc(4096);
            var surface = Surface.Packed(target, Side, Side);
            var rects = Scene();
            c.Submit((ref PacketWriter w) => { Draw(ref w, surface, rects); w.WriteData(log, 7); });
            other.Submit((ref PacketWriter w) => w.WriteData(log + 4, 9));
            m.SwitchTo(EngineKind.Render, c);
            ContextSaveArea saved = default;
            if (preempt)
            {
                // When C is switched out mid-packet, another context runs, and C is restored through its save area's PA.
                m.Device.Step(500 + 1000);
                m.SwitchTo(EngineKind.Render, other);
                saved = m.ReadSaveArea(c);
                m.Device.Step(2_000);
                Assert.That(space.Read32(log + 4), Is.EqualTo(9u), "the other context ran in between");
                m.SwitchTo(EngineKind.Render, c);
            }
            m.RunUntilIdle();
            Assert.That(c.ReadPtr, Is.EqualTo(c.WritePtr));
            return (space.ReadBytes(target, Side * Side * 4), space.Read32(log), saved);
        }

        var reference = Run(preempt: false);
        var interrupted = Run(preempt: true);

        // Then the saved context reports the reason and the cycles, and holds the point inside the packet...
        Assert.That(interrupted.AtSwitch.LastSwitchReason, Is.EqualTo(SwitchReason.Requested));
        // A primitive, once started, finishes (its cost may overrun the slice by less than one blend of 288 cycles).
        Assert.That(interrupted.AtSwitch.CyclesRun, Is.InRange(1500UL, 1500UL + 288));
        Assert.That(interrupted.AtSwitch.Work.Step, Is.GreaterThan(0u).And.LessThan(16u), "stopped between primitives of one DRAW_RECTS");
        Assert.That(interrupted.AtSwitch.RingPosition, Is.Zero, "the draw packet has not retired");
        // ...and resuming from it gives exactly the uninterrupted result.
        Assert.That(interrupted.Pixels.AsSpan().SequenceEqual(reference.Pixels), Is.True);
        Assert.That(interrupted.Log, Is.EqualTo(7u));
        // The fault-address and in-use-resource parts of the query: SavedContext_ReportsSwitchReasonCyclesAndFaultAddress
        // (device) and SavedContextQuery_OfAFaultedContext_GivesReasonCyclesFaultAddressAndResourcesInUse (driver).
    }

    [Test]
    public void Behaviour20_RunListAutoAdvance_1Empty3Faults_Runs1To3To5WithoutTheCpu_InterruptingAtEachSwitchWithoutStalling()
    {
        // Given run list (1, 3, 5, 2) (N-element lists: history-buffer mode): 1 has work then is empty, 3 page-faults.
        using var rig = new RunListRig(history: true);
        rig.Write(1, 0, 11);
        rig.PageFault(3);
        rig.Write(5, 0, 55);
        rig.Write(2, 0, 22);
        rig.Submitter.Submit(rig.List(1, 3, 5, 2));

        // When the device runs and the CPU answers no interrupt at all.
        rig.Device.Step(100_000);

        // Then the switch interrupts are still pending (nobody acknowledged them) and yet every entry ran.
        Assert.That(rig.Device.Interrupts.Status & (1u << (int)InterruptSource.ContextSwitch), Is.Not.Zero);
        Assert.That((rig.ReadLog(1, 0), rig.ReadLog(5, 0), rig.ReadLog(2, 0)), Is.EqualTo((11u, 55u, 22u)));
        Assert.That(rig.Saved(3).LastSwitchReason, Is.EqualTo(SwitchReason.PageFault));
        Assert.That(rig.Switches().Take(4), Is.EqualTo(new[]
        {
            (SwitchReason.NewRunList, 1), (SwitchReason.Empty, 3), (SwitchReason.PageFault, 5), (SwitchReason.Empty, 2),
        }));
    }

    [Test]
    public void Behaviour26_FenceOrdering_AWriteFenceAfterADraw_LandsOnlyOnceEveryPixelOfTheDrawIsVisible()
    {
        // Given draw D followed by a write fence F.
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong target = space.Alloc(Side * Side * 4), fence = space.Alloc(4096);
        var surface = Surface.Packed(target, Side, Side);
        var rects = Scene();
        ctx.Submit((ref PacketWriter w) => { Draw(ref w, surface, rects); w.Fence(fence, 5); });
        var expected = new uint[Side * Side];
        DrawRectsReference.Draw(expected, surface, [], default, rects);
        var expectedBytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected.AsSpan()).ToArray();
        m.SwitchTo(EngineKind.Render, ctx);

        // When the engine is observed after every small step: the fence value appears only with all of D's output.
        bool seen = false;
        int stepsBefore = 0;
        for (int i = 0; i < 1000 && !seen; i++)
        {
            m.Device.Step(64);
            seen = space.Read64(fence) == 5;
            if (!seen) stepsBefore++;
            else Assert.That(space.ReadBytes(target, expectedBytes.Length), Is.EqualTo(expectedBytes), "pixels visible when F is");
        }
        Assert.That(seen, Is.True);
        Assert.That(stepsBefore, Is.GreaterThan(10), "the draw took many steps, so an early fence would have been seen");
    }

    [Test]
    public void Behaviour27_Trap_InALimitedBuffer_InterruptsOnlyAfterTheDrawAndTheEarlierFenceRetired()
    {
        // Given a limited (user) DMA buffer: draw D, fence, trap.
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 3);
        ulong target = space.Alloc(Side * Side * 4), fence = space.Alloc(4096);
        var surface = Surface.Packed(target, Side, Side);
        var rects = Scene();
        var packets = PacketProgram.Build((ref PacketWriter w) => { Draw(ref w, surface, rects); w.Fence(fence, 1); w.Trap(77); });
        ulong dma = space.NewDmaBuffer(packets);
        ctx.Submit((ref PacketWriter w) => w.Indirect(dma, (uint)packets.Length, privileged: false));
        var expected = new uint[Side * Side];
        DrawRectsReference.Draw(expected, surface, [], default, rects);
        var line = new ObservingLine(() =>
        {
            // Then at the moment the trap raises the line, D's pixels and the fence are already in memory.
            Assert.That(space.Read64(fence), Is.EqualTo(1UL));
            Assert.That(space.ReadBytes(target, Side * Side * 4), Is.EqualTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected.AsSpan()).ToArray()));
        });
        m.Device.Interrupts.Line = line;
        m.Device.Interrupts.Enable = 1u << (int)InterruptSource.Trap;

        // When it runs.
        m.SwitchTo(EngineKind.Render, ctx);
        for (int i = 0; i < 200 && line.Rises == 0; i++) m.Device.Step(64);

        Assert.That(line.Rises, Is.EqualTo(1));
        Assert.That(m.DrainInterrupts().Single(i => i.Source == InterruptSource.Trap).Data0, Is.EqualTo(77UL));
    }

    [Test]
    public void Behaviour29_WaitSignal_WaitOnZeroRewindsToTheWaitAndSwitches_SignalLetsItDecrementAndContinue_OverflowIsAnError()
    {
        // Given counter = 0 at V, waiter C (log 1, Wait(V), log 3) and signaller D (log 2, Signal(V)), D next in line.
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var c = m.NewContext(space, 1);
        var d = m.NewContext(space, 2);
        ulong counter = space.Alloc(4096), log = space.Alloc(4096);
        c.Submit((ref PacketWriter w) => w.WriteData(log, 1));
        ulong waitAt = c.WritePtr;
        c.Submit((ref PacketWriter w) => { w.Wait(counter); w.WriteData(log + 4, 3); });
        d.Submit((ref PacketWriter w) => { w.WriteData(log + 8, 2); w.Signal(counter); });
        m.SwitchTo(EngineKind.Render, c);
        m.SetNext(EngineKind.Render, d);

        // When C executes Wait(V) with V = 0: its saved instruction pointer is the Wait itself and the engine moves on.
        m.Device.Step(1_000);
        var saved = m.ReadSaveArea(c);
        Assert.That(saved.RingPosition, Is.EqualTo(waitAt), "the instruction pointer is reset to the Wait");
        Assert.That(saved.LastSwitchReason, Is.EqualTo(SwitchReason.Yielded));
        Assert.That(space.Read32(log + 4), Is.Zero);

        // When D signals (V becomes 1) and C is rescheduled: C re-executes the Wait, takes V back to 0 and continues.
        m.RunUntilIdle(slice: 1_000);
        Assert.That(space.Read32(log + 8), Is.EqualTo(2u));
        Assert.That(space.Read32(log + 4), Is.EqualTo(3u));
        Assert.That(space.Read32(counter), Is.Zero);

        // And a Signal on the maximum value wraps and reports an error interrupt naming the counter.
        m.DrainInterrupts();
        space.Write32(counter, uint.MaxValue);
        d.Submit((ref PacketWriter w) => w.Signal(counter));
        m.SwitchTo(EngineKind.Render, d);
        m.RunUntilIdle(slice: 1_000);
        Assert.That(space.Read32(counter), Is.Zero);
        Assert.That(m.DrainInterrupts().Count(i => i.Source == InterruptSource.Error && i.Data0 == counter), Is.EqualTo(1));
    }

    private sealed class ObservingLine(Action onRise) : IInterruptLine
    {
        public int Rises { get; private set; }

        public void SetLevel(bool asserted)
        {
            if (!asserted) return;
            Rises++;
            onRise();
        }
    }
}
