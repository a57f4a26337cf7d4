using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;
using Coproc.Fast.Tests.Present;

namespace Coproc.Fast.Tests.Scheduling.Sync;

/// <summary>The wait's software queue (seed 001 §10.1) composed with the flip virtual ring (§9.3): stream order is kept.</summary>
[TestFixture]
public sealed class VirtualRingSyncTests
{
    [Test]
    public void BufferInTheVirtualRingBeforeAWait_IsNotHeldBehindTheWait_AndLaterWorkStillWaits()
    {
        // Given double buffering with one vsync flip queued, so the next frame waits in the virtual ring; then a wait on
        // an unsignalled event and one more buffer.
        using var h = new PresentHarness(bufferCount: 2);
        uint e = h.Machine.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent);
        var other = h.Machine.CreateContext(1);
        h.Flip(1, FlipKind.Vsync);
        long before = h.Render(0, 0xFF0000AAu);
        Assert.That(h.Chain.HeldBuffers, Is.EqualTo(1), "in the virtual ring");
        h.Machine.Kmd.WaitOnSingleObject(1, h.Context, e);
        long after = h.Render(0, 0xFF0000BBu);

        // When the flip completes (virtual ring released) while the event is still unsignalled.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then the buffer submitted before the wait ran (the wait's fence follows it), the one after it is held back.
        Assert.That(h.Context.StatusOf(before), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Context.StatusOf(after), Is.EqualTo(SubmissionStatus.Pending));
        Assert.That(h.Pixel(h.Surfaces[0], 0), Is.EqualTo(0xFF0000AAu));
        Assert.That(h.Machine.Scheduler.QueryContextSync(h.Context), Has.Property(nameof(ContextSyncInfo.OnWaitList)).True
            .And.Property(nameof(ContextSyncInfo.HeldBackBuffers)).EqualTo(1));

        // And the signal lets it run.
        h.Machine.Kmd.SignalObject(1, other, e);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Context.StatusOf(after), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Pixel(h.Surfaces[0], 0), Is.EqualTo(0xFF0000BBu));
    }
}
