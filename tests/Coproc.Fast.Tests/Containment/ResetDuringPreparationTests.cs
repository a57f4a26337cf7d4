using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// A reset that begins while the rest of a split buffer is being prepared (VidSchScheduler.Prepare.cs, RunPreparation):
/// the buffer fails once and returns to its pool once; the pool never hands out a buffer the scheduler still holds.
/// </summary>
public class ResetDuringPreparationTests
{
    [Test]
    public void SplitBufferHungInItsFirstChunk_ResetWhileItsRestIsBeingPrepared_FailsOnce_AndThePoolStaysConsistent()
    {
        const ulong Timeout = 100_000;
        int splitRuns = 0;
        for (ulong offset = 0; offset <= 6_000; offset += 500)
        {
            // Given a buffer split in two (a hung WAIT, then a FILL) whose second chunk's preparation completes around
            // the moment the first chunk's timeout resets the context.
            using var h = new SchedulingHarness(new VidSchOptions
            {
                QuantumCycles = 1_000_000, TimeoutCycles = Timeout, SplitThresholdBytes = 64 * 1024,
                PrepareBaseCycles = Timeout - 3_000 + offset,
            });
            var ctx = h.Machine.CreateContext(1);
            var other = h.Machine.CreateContext(2);
            var counter = h.Allocate(1);
            var big = h.Allocate(1, 1 << 20);
            var data = h.Allocate(2);
            long split = h.Submit(1, ctx, cb => { cb.Wait(counter, 0); cb.Fill(big, 0, 0xEE, 1 << 20, resourceId: 1); });
            long after = h.Submit(1, ctx, cb => cb.Nop());

            // When the machine runs, and both processes keep submitting afterwards.
            Assert.That(h.Machine.RunUntilIdle(), Is.True, $"offset {offset}: the preparation slot was left holding a pooled buffer");
            if (h.Scheduler.Splits > 0) splitRuns++;
            var more = new List<long>();
            for (int i = 0; i < 4; i++)
            {
                more.Add(h.Submit(1, ctx, cb => cb.Fill(big, 0, 1, 4096, resourceId: 1)));
                h.Submit(2, other, cb => cb.Fill(data, 0, 2, 4096));
            }
            Assert.That(h.Machine.RunUntilIdle(), Is.True);

            // Then the split buffer failed as a timeout, the process's pool is whole, and later work completes.
            Assert.That(ctx.StatusOf(split), Is.EqualTo(SubmissionStatus.FailedTimeout), $"offset {offset}");
            Assert.That(ctx.StatusOf(after), Is.EqualTo(SubmissionStatus.FailedTimeout), $"offset {offset}");
            Assert.That(more.Select(ctx.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed), $"offset {offset}");
            var process = h.Kmd.Process(1);
            Assert.That(process.Outstanding, Is.Zero, $"offset {offset}");
            Assert.That(process.DmaBuffersPooled, Is.EqualTo(process.DmaBuffersCreated), $"offset {offset}: a buffer pooled twice or lost");
        }
        Assert.That(splitRuns, Is.GreaterThan(0), "the buffer was split");
    }
}
