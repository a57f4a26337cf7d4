using Coproc.Fast.Driver;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// Every option that is a span of device cycles is at most <see cref="MachineOptions.MaxCycleSpan"/> (2^48): the driver
/// computes deadlines as now + span (and the run-list paging protection as 16 quanta), which a larger span could wrap
/// into the past — a quantum timer re-armed at a past cycle forever, or a negative quantum credit. Past the bound the
/// machine is refused with a typed error naming the option; at the bound every model runs its work to the end.
/// </summary>
public class CycleSpanOptionsTests
{
    private const ulong Max = MachineOptions.MaxCycleSpan;

    public static IEnumerable<TestCaseData> SpansPastTheBound()
    {
        yield return Case("StepCycles", o => o with { StepCycles = Max + 1 });
        yield return Case("StepCycles", o => o with { StepCycles = 0 });
        yield return Case("InterruptLatencyCycles", o => o with { InterruptLatencyCycles = ulong.MaxValue });
        yield return Case("ModeledCycles", o => o with { Gate = o.Gate with { ModeledCycles = Max + 1 } });
        yield return Case("QuantumCycles", o => o with { Scheduler = o.Scheduler with { QuantumCycles = 1UL << 63 } });
        yield return Case("TimeoutCycles", o => o with { Scheduler = o.Scheduler with { TimeoutCycles = ulong.MaxValue } });
        yield return Case("PrepareBaseCycles", o => o with { Scheduler = o.Scheduler with { PrepareBaseCycles = Max + 1 } });
        yield return Case("PreparePerItemCycles", o => o with { Scheduler = o.Scheduler with { PreparePerItemCycles = ulong.MaxValue } });
        yield return Case("QuantumCycles", o => o with { Model = SchedulingModel.Advanced, RunLists = o.RunLists with { QuantumCycles = ulong.MaxValue } });
        yield return Case("QuantumCycles", o => o with { Model = SchedulingModel.Advanced, RunLists = o.RunLists with { QuantumCycles = 0 } });
        yield return Case("TimeoutCycles", o => o with { Model = SchedulingModel.Advanced, RunLists = o.RunLists with { TimeoutCycles = Max + 1 } });
        yield return Case("PagingBoostPeriodCycles", o => o with { Model = SchedulingModel.Advanced, RunLists = o.RunLists with { PagingBoostPeriodCycles = 0 } });
        yield return Case("PagingServiceCycles", o => o with { Model = SchedulingModel.Advanced, RunLists = o.RunLists with { PagingServiceCycles = ulong.MaxValue } });

        static TestCaseData Case(string option, Func<MachineOptions, MachineOptions> change) =>
            new TestCaseData(option, change).SetArgDisplayNames(option + "#" + change.Method.Name.GetHashCode().ToString("x", System.Globalization.CultureInfo.InvariantCulture));
    }

    [TestCaseSource(nameof(SpansPastTheBound))]
    public void AMachineWithASpanPastTheBound_IsRefusedWithATypedErrorNamingTheOption(string option, Func<MachineOptions, MachineOptions> change)
    {
        var options = change(new MachineOptions { Device = ModelWorkload.Device() });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Machine(options).Dispose());
        Assert.That(e!.ParamName, Is.EqualTo(option));
        Assert.That(e.Message, Does.Contain("MaxCycleSpan"));
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void EverySpanAtTheBound_RunsTheWorkloadToTheSameBytesAsTheCpu(SchedulingModel model)
    {
        // Given a quantum and a timeout of 2^48 cycles in every scheduler (a step or an interrupt latency that long would
        // only pass RunUntilIdle's own cycle limit in one event)
        var batches = ModelWorkload.Batches(seed: 11);
        var surfaces = ModelWorkload.Run(model, batches, o => o with
        {
            Scheduler = o.Scheduler with { QuantumCycles = Max, TimeoutCycles = Max },
            RunLists = o.RunLists with { QuantumCycles = Max, TimeoutCycles = Max },
        });
        // Then every batch retired (the runner asserts it) and the surfaces hold what the CPU computes
        Assert.That(surfaces, Is.EqualTo(ModelWorkload.CpuModel(batches)));
    }

    [Test]
    public void RunLimitsOfUlongMaxValue_MeanAsLongAsItTakes_NotADeadlineThatWrappedIntoThePast()
    {
        // Given a machine whose clock has moved, and work queued
        using var m = new Machine(new MachineOptions { Device = ModelWorkload.Device() });
        m.RunFor(1_000);
        var ctx = m.OpenContext(1);
        var a = m.Kmd.Allocate(1, 4096, Coproc.Fast.Driver.VidMm.PlacementHint.LocalOnly, Coproc.Fast.Driver.VidMm.AllocationFlags.Contiguous);
        Assert.That(m.TrySubmit(ctx, r => r.Fill(a, 0, 0xC0FFEE, 4096)), Is.True);
        // When it runs with the largest limit (Now + ulong.MaxValue used to wrap below Now: both calls returned at once)
        Assert.That(m.RunUntil(() => ModelWorkload.Read(m, a, 4)[0] == 0xEE, ulong.MaxValue), Is.True);
        // Then the work ran, and "until idle" with the largest limit ends idle
        Assert.That(m.RunUntilIdle(ulong.MaxValue), Is.True);
        Assert.That(BitConverter.ToUInt32(ModelWorkload.Read(m, a, 4096), 4092), Is.EqualTo(0xC0FFEEu));
    }
}
