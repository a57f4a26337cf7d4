using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Display;

/// <summary>
/// Coprocessor.Step caches the next vsync boundary while the period is unchanged (docs/performance.md); these pin that the
/// vsyncs still land on the multiples of the period in force, however the steps are cut and when the period changes.
/// </summary>
public class VsyncBoundaryTests
{
    private static EngineTestMachine NewMachine() => new(new CoprocessorOptions
    {
        LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 10_000,
    });

    private static ulong[] VsyncCycles(EngineTestMachine m) =>
        m.DrainInterrupts().Where(i => i.Source == InterruptSource.Vsync).Select(i => i.Cycle).ToArray();

    [Test]
    public void GivenUnevenSteps_WhenRunningPastThreePeriods_ThenVsyncsLandOnTheMultiplesOfThePeriod()
    {
        using var m = NewMachine();
        foreach (ulong chunk in new ulong[] { 3_333, 6_667, 1, 9_998, 1, 4_000, 6_000 }) m.Device.Step(chunk);
        Assert.That(m.Device.Cycle, Is.EqualTo(30_000UL));
        Assert.That(VsyncCycles(m), Is.EqualTo(new ulong[] { 10_000, 20_000, 30_000 }));
    }

    [Test]
    public void GivenThePeriodShortenedMidFrame_WhenStepping_ThenTheNextVsyncIsTheNewPeriodsNextMultiple()
    {
        using var m = NewMachine();
        m.Device.Step(12_000); // vsync at 10,000; the next one under the old period would be 20,000
        m.Device.Mmio.Write32(MmioMap.DisplayBase + 0x10, 4_000);
        m.Device.Step(9_000);
        Assert.That(VsyncCycles(m), Is.EqualTo(new ulong[] { 10_000, 16_000, 20_000 }));
    }

    [Test]
    public void GivenVsyncDisabledThenReenabled_WhenStepping_ThenVsyncsFollowTheReenabledPeriod()
    {
        using var m = NewMachine();
        m.Device.Step(5_000);
        m.Device.Mmio.Write32(MmioMap.DisplayBase + 0x10, 0);
        m.Device.Step(20_000); // no vsync while the period is 0
        m.Device.Mmio.Write32(MmioMap.DisplayBase + 0x10, 10_000);
        m.Device.Step(10_000);
        Assert.That(VsyncCycles(m), Is.EqualTo(new ulong[] { 30_000 }));
    }
}
