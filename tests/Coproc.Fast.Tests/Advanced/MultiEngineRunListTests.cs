using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// The run-list back end on several engines (seed 001 §6; native-layout.md §10.5–§10.6): each engine has its own
/// current and pending list built from its own contexts, the device's one history buffer is read once and each record
/// acts on its engine's lists, VidMm's paging context runs on the first engine and serves faults of every engine.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class MultiEngineRunListTests
{
    private const int Bytes = 256 << 10;

    private static AdvancedRig Rig(RunListMechanism mechanism) =>
        new(AdvancedRig.Small(mechanism) with { Engines = [EngineKind.Render, EngineKind.Compute] });

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void ContextsOnTwoEngines_RunAtTheSameTime_EachOnItsOwnEnginesLists_AndEveryByteIsRight(RunListMechanism mechanism)
    {
        using var rig = Rig(mechanism);
        var s = rig.Scheduler;
        Assert.That(s.Engines, Is.EqualTo(new[] { EngineKind.Render, EngineKind.Compute }));
        var p = s.CreateProcess();
        var render = s.CreateContext(p, 4, EngineKind.Render);
        var compute = s.CreateContext(p, 4, EngineKind.Compute);
        var r = p.AllocatePinned(Bytes);
        var c = p.AllocatePinned(Bytes);

        // A long render buffer, then a compute buffer: the compute one must not wait for render.
        var longRender = rig.Submit(render, (ref PacketWriter w) => { for (int i = 0; i < 64; i++) w.Fill(r.Va, (uint)i, Bytes); });
        var shortCompute = rig.Submit(compute, (ref PacketWriter w) => w.Fill(c.Va, 0xC0C0C0C0, Bytes));
        Assert.That(rig.Machine.RunUntil(() => shortCompute.IsComplete, 50_000_000), Is.True);
        Assert.That(longRender.IsComplete, Is.False, "compute ran on its own engine while render was busy");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(longRender.IsComplete && shortCompute.IsComplete, Is.True);
        AdvancedRig.AssertBytes(rig.Read(r), AdvancedRig.Pattern(63, Bytes), "render");
        AdvancedRig.AssertBytes(rig.Read(c), AdvancedRig.Pattern(0xC0C0C0C0, Bytes), "compute");
        // Each engine's lists named only its own contexts (and VidMm's, on the first engine).
        foreach (var list in s.SubmittedLists)
            Assert.That(list.Contains(render.SaveArea) && list.Contains(compute.SaveArea), Is.False, "one list never mixes engines");
        Assert.That(s.RunListsFor(EngineKind.Compute).CurrentSerial, Is.GreaterThan(0u), "compute's lists were submitted on compute");
        Assert.That(rig.Machine.IsRunListEngine(EngineKind.Compute), Is.True);
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void AFaultOnTheSecondEngine_IsServedByVidMmsContextOnTheFirst_AndTheContextResumes(RunListMechanism mechanism)
    {
        using var rig = Rig(mechanism);
        var s = rig.Scheduler;
        var p = s.CreateProcess();
        var compute = s.CreateContext(p, 2, EngineKind.Compute);
        var surface = p.AllocateSurface(Bytes); // evictable, not resident: the first touch faults (nothing listed)
        var t = rig.Submit(compute, (ref PacketWriter w) => w.Fill(surface.Va, 0x5A5A5A5A, Bytes));

        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(t.IsComplete, Is.True);
        Assert.That(compute.PageFaults, Is.GreaterThan(0), "it faulted on compute");
        Assert.That(compute.State, Is.EqualTo(VaContextState.Ready));
        AdvancedRig.AssertBytes(rig.Read(surface), AdvancedRig.Pattern(0x5A5A5A5A, Bytes));
    }

    [Test]
    public void EqualContextsOnTheSecondEngine_TakeTurnsByQuantum()
    {
        using var rig = Rig(RunListMechanism.History);
        var s = rig.Scheduler;
        var p = s.CreateProcess();
        var a = s.CreateContext(p, 3, EngineKind.Compute);
        var b = s.CreateContext(p, 3, EngineKind.Compute);
        var x = p.AllocatePinned(1 << 20);
        var y = p.AllocatePinned(Bytes);
        rig.Submit(a, (ref PacketWriter w) => { for (int i = 0; i < 100; i++) w.Fill(x.Va, (uint)i, 1 << 20); }); // ~1.6 M cycles: several quanta
        var second = rig.Submit(b, (ref PacketWriter w) => w.Fill(y.Va, 0xB, Bytes));

        Assert.That(rig.Machine.RunUntil(() => second.IsComplete, 100_000_000), Is.True, "the second context's buffer ran");
        Assert.That(s.Events.Any(e => e.Kind == RunListEventKind.QuantumExpired && e.ContextId == a.Id), Is.True,
            "the long context yielded the compute engine at its quantum");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void AHigherPriorityContextOnTheSecondEngine_TakesItFromALowerOnesLongBuffer(RunListMechanism mechanism)
    {
        using var rig = Rig(mechanism);
        var s = rig.Scheduler;
        var p = s.CreateProcess();
        var low = s.CreateContext(p, 2, EngineKind.Compute);
        var high = s.CreateContext(p, 14, EngineKind.Compute);
        var x = p.AllocatePinned(1 << 20);
        var y = p.AllocatePinned(Bytes);
        var longLow = rig.Submit(low, (ref PacketWriter w) => { for (int i = 0; i < 100; i++) w.Fill(x.Va, (uint)i, 1 << 20); });
        rig.Machine.RunFor(100_000);
        var urgent = rig.Submit(high, (ref PacketWriter w) => w.Fill(y.Va, 0xE, Bytes));

        Assert.That(rig.Machine.RunUntil(() => urgent.IsComplete || longLow.IsComplete, 100_000_000), Is.True);
        Assert.That(urgent.IsComplete && !longLow.IsComplete, Is.True, "strict priority on the second engine's lists");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
    }

    [Test]
    public void CreatingAContextOnAnEngineTheBackEndDoesNotDrive_IsRefused()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p = rig.Scheduler.CreateProcess();
        Assert.That(() => rig.Scheduler.CreateContext(p, 0, EngineKind.Compute), Throws.ArgumentException);
        Assert.That(() => new AdvancedRig(AdvancedRig.Small() with { Engines = [EngineKind.Compute] }),
            Throws.InstanceOf<ArgumentException>(), "the paging context's engine must be driven");
    }
}
