using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Scheduling.Sync;

/// <summary>The one threaded synchronization test: real device, scheduler and worker threads; a CPU thread blocks on a completion event.</summary>
[TestFixture]
public sealed class ThreadedSyncTests
{
    [Test]
    public void ThreadedMode_PingPongThroughTwoSemaphores_CpuWaitsOnTheCompletionEvent_EveryFrameIntact()
    {
        const int Frame = 64 * 1024, Frames = 6;
        using var h = new SyncHarness(quantumCycles: 20_000, mode: MachineRunMode.Threaded);
        var producer = h.Machine.CreateContext(1);
        var consumer = h.Machine.CreateContext(1);
        var surface = h.Allocate(1, Frame);
        var copies = h.Allocate(1, (ulong)Frame * Frames);
        uint filled = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 0, 1);
        uint consumed = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 1, 1);
        h.Machine.Start();
        using var last = new UserModeCompletionEvent();
        long lastId = 0;
        var consumerThread = new Thread(() =>
        {
            for (int i = 0; i < Frames; i++)
            {
                int k = i;
                h.Kmd.WaitOnSingleObject(1, consumer, filled);
                lastId = h.Submit(1, consumer, cb => cb.Copy(surface, 0, copies, (ulong)k * Frame, Frame), k == Frames - 1 ? last : null);
                h.Kmd.SignalObject(1, consumer, consumed);
            }
        });
        consumerThread.Start();
        for (int i = 0; i < Frames; i++)
        {
            int k = i;
            h.Kmd.WaitOnSingleObject(1, producer, consumed);
            h.Submit(1, producer, cb => cb.Fill(surface, 0, 0x11110000u + (uint)k, Frame / 2));
            h.Submit(1, producer, cb => cb.Fill(surface, Frame / 2, 0x11110000u + (uint)k, Frame / 2));
            h.Kmd.SignalObject(1, producer, filled);
        }
        Assert.That(consumerThread.Join(TimeSpan.FromSeconds(30)), Is.True);

        // The CPU blocks on the completion event (spin, then block); the timeout is only a failure guard.
        Assert.That(last.Wait(TimeSpan.FromSeconds(30)), Is.True, () => $"machine failure: {h.Machine.ThreadFailure}");
        Assert.That(consumer.StatusOf(lastId), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True);
        for (int i = 0; i < Frames; i++)
        {
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(copies, (ulong)i * Frame, Frame)).ToArray();
            Assert.That(words, Is.All.EqualTo(0x11110000u + (uint)i), $"frame {i}");
        }
    }
}
