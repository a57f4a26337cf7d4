using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Seed 001 §5.5: time a context lost out of its slice is owed to it and added to its next slice.</summary>
[TestFixture]
public sealed class CompensationTests
{
    private const ulong Quantum = 100_000;

    [Test]
    public void ContextSwitchedOutEarly_ForAPagingBuffer_IsOwedTheMissedTime_AndItsNextSliceIsLonger()
    {
        // Given A and B (equal priority) with long work in the hardware of the paging engine, A loaded for a quarter of
        // its slice.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = Quantum, PrepareBaseCycles = 500, PreparePerItemCycles = 10 },
            pagingEngine: Coproc.Fast.Device.Engines.EngineKind.Render);
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var c = h.Machine.CreateContext(3);
        var xa = h.Allocate(1, 64 * 1024);
        var xb = h.Allocate(2, 64 * 1024);
        h.Submit(1, a, cb => { for (int i = 0; i < 400; i++) cb.Fill(xa, 0, (uint)i, 64 * 1024); });
        h.Submit(2, b, cb => { for (int i = 0; i < 400; i++) cb.Fill(xb, 0, (uint)i, 64 * 1024); });
        bool bStarted() => h.Trace.Events.Any(e => e.Kind == ScheduleEventKind.BufferStarted && e.ContextId == b.Id);
        Assert.That(h.Machine.RunUntil(() => a.Loaded && bStarted() && h.Machine.Now - a.LoadedAt > Quantum / 4), Is.True);

        // When a third context's buffer needs a page-in: the paging queue's context takes the engine at once.
        var src = h.Allocate(3);
        var dst = h.Allocate(3);
        h.Residency!.StagePageIn(src, new byte[4096]);
        h.Submit(3, c, cb => cb.Copy(src, 0, dst, 0, 4096));
        Assert.That(h.Machine.RunUntil(() => !a.Loaded), Is.True);
        long owed = a.QuantumBalance;

        // Then A is owed what it missed (bounded by one quantum), and its next slice runs that much longer.
        Assert.That(owed, Is.GreaterThan((long)Quantum / 4).And.LessThanOrEqualTo((long)Quantum), "owed time");
        Assert.That(h.Machine.RunUntil(() => a.Loaded), Is.True);
        ulong loadedAt = a.LoadedAt;
        Assert.That(h.Machine.RunUntil(() => !a.Loaded), Is.True);
        ulong slice = h.Machine.Now - loadedAt;
        Assert.That(slice, Is.GreaterThan(Quantum + (ulong)owed / 2), "the next slice includes the owed time");
        Assert.That(a.QuantumBalance, Is.LessThan(owed), "the debt was paid");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(a.Completed + b.Completed + c.Completed, Is.EqualTo(3));
    }
}
