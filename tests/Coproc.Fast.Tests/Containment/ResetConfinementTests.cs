using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// Recovery confinement (docs/containment.md, VidSchScheduler.Recovery.cs invariants R2–R3): a reset waits for the
/// device to confirm the engine left the context; rejected bytes never become device-visible.
/// </summary>
public class ResetConfinementTests
{
    private const uint EngineRegs = MmioMap.EngineBase; // render engine's bank (native-layout.md §10.1)

    /// <summary>Reads CURRENT_CONTEXT and NEXT_CONTEXT when each reset completes.</summary>
    private sealed class ResetProbe(Machine machine, TraceRecorder inner) : IScheduleObserver
    {
        public readonly List<(int Context, ulong Current, ulong Next)> Resets = new();

        public void OnEvent(in ScheduleEvent e)
        {
            inner.OnEvent(e);
            if (e.Kind == ScheduleEventKind.ContextReset)
                Resets.Add((e.ContextId, machine.Device.Mmio.Read64(EngineRegs + 0x08), machine.Device.Mmio.Read64(EngineRegs + 0x10)));
        }
    }

    [Test]
    public void HungContextSharingTheEngineThroughNextContext_IsResetOnlyOnceTheEngineCanNoLongerReturnToIt()
    {
        // Given a context hung on a WAIT and a context of another process running ~16 K-cycle buffers, the engine moving
        // between them by itself through NEXT_CONTEXT (a yield makes the waiting context NEXT, native-layout.md §10.1),
        // and a slow interrupt handler: the driver learns of each switch 30 K cycles after the device made it.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 20_000, TimeoutCycles = 90_000 }, localBytes: 32UL << 20,
            interruptLatencyCycles: 30_000);
        var probe = new ResetProbe(h.Machine, h.Trace);
        h.Scheduler.Observer = probe;
        var hung = h.Machine.CreateContext(1);
        var busy = h.Machine.CreateContext(2);
        var counter = h.Allocate(1);
        var mark = h.Allocate(1);
        var data = h.Allocate(2, 1 << 20);
        var hungIds = new List<long>();
        for (int round = 0; round < 60; round++)
        {
            int r = round;
            hungIds.Add(h.Submit(1, hung, cb => { cb.Wait(counter, 0); cb.WriteData(mark, (ulong)(r % 1024) * 4, [0xDEAD]); }));
            for (int i = 0; i < 6; i++)
            {
                int k = round * 6 + i;
                h.Submit(2, busy, cb => cb.Fill(data, 0, (uint)k, (1 << 20) - (ulong)((k * 7919) % 13) * 4096));
                h.Machine.RunFor(3_000 + (ulong)((k * 104729) % 23) * 1_000);
            }
            Assert.That(h.Machine.RunUntilIdle(), Is.True);
        }

        // Then every reset happened with the engine neither on the hung context nor about to return to it, nothing
        // after a hung WAIT ever ran, and each hung buffer ended as a timeout.
        Assert.That(probe.Resets.Count(r => r.Context == hung.Id), Is.EqualTo(60));
        foreach (var r in probe.Resets)
        {
            Assert.That(r.Current, Is.Not.EqualTo(hung.SaveArea.Encoded), "CURRENT_CONTEXT names the context being reset");
            Assert.That(r.Next, Is.Not.EqualTo(hung.SaveArea.Encoded), "NEXT_CONTEXT could bring the reset context back");
        }
        Assert.That(h.Read(mark), Is.All.Zero, "a reset context came back and ran past its WAIT");
        Assert.That(hungIds.Select(hung.StatusOf), Is.All.EqualTo(SubmissionStatus.FailedTimeout), "a hung WAIT ends as a timeout, never a fault");
        Assert.That(busy.Resets, Is.Zero);
    }

    [Test]
    public void ContextHungRepeatedly_ThenARejectedRawAddressFill_NeverWritesAnotherProcesssMemory()
    {
        // Given a victim process's allocation with known bytes, and an attacker that hangs one context again and again
        // while its other context keeps the engine busy (so the engine yields back and forth between them), with a slow
        // interrupt handler (the driver learns of each switch 30 K cycles after the device made it).
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 10_000, TimeoutCycles = 60_000 }, localBytes: 32UL << 20,
            interruptLatencyCycles: 30_000);
        var victimCtx = h.Machine.CreateContext(3);
        var victim = h.Allocate(3, 65536);
        var pattern = Enumerable.Range(0, 65536).Select(i => (byte)(i * 7)).ToArray();
        h.Write(victim, pattern);
        var hung = h.Machine.CreateContext(1);
        var busy = h.Machine.CreateContext(1);
        var counter = h.Allocate(1);
        var own = h.Allocate(1, 1 << 20);
        ulong victimKernelAddress = h.Machine.Residency.PatchAddress(victim, 0);

        // The payload: a FILL whose operand is the victim's kernel-view address, with no resource-list entry.
        var sink = new CapturingSink();
        var builder = new CommandBufferBuilder(sink);
        builder.Fill(own, 0, 0xBADBAD, 4096);
        builder.Flush();
        var raw = sink.Commands.ToArray();
        raw[1] = (uint)victimKernelAddress;
        raw[2] = (uint)(victimKernelAddress >> 32);

        var hungIds = new List<long>();
        for (int round = 0; round < 30; round++)
        {
            // When the attacker hangs its context while its other context submits a short buffer every 7 K cycles (the
            // engine switches between them by itself, faster than the driver hears of it), and keeps submitting the
            // raw FILL, which the KMD rejects each time.
            hungIds.Add(h.Submit(1, hung, cb => cb.Wait(counter, 0)));
            for (int i = 0; i < 24; i++)
            {
                int k = round * 24 + i;
                h.Submit(1, busy, cb => cb.Fill(own, (ulong)(k % 64) * 4096, (uint)k, 4096));
                if (i % 3 == 2)
                {
                    var e = Assert.Throws<CommandBufferRejectedException>(() => h.Kmd.Submit(1, hung, raw, ReadOnlySpan<ResourceReference>.Empty));
                    Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.RawAddress));
                }
                h.Machine.RunFor(7_000);
            }
            Assert.That(h.Machine.RunUntilIdle(), Is.True);
        }

        // Then the victim's bytes are unchanged, its context still works, and every hung buffer ended as a timeout.
        Assert.That(h.Read(victim), Is.EqualTo(pattern));
        Assert.That(hungIds.Select(hung.StatusOf), Is.All.EqualTo(SubmissionStatus.FailedTimeout));
        long ok = h.Submit(3, victimCtx, cb => cb.Fill(victim, 0, 0x01010101, 16));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(victimCtx.StatusOf(ok), Is.EqualTo(SubmissionStatus.Completed));
    }

    [Test]
    public void RejectedCommandBuffer_GoesBackToThePoolWithItsCopiedBytesCleared()
    {
        // Given a process whose raw-address FILL is rejected after it was copied into a kernel DMA buffer.
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var own = h.Allocate(1);
        var sink = new CapturingSink();
        var builder = new CommandBufferBuilder(sink);
        builder.Fill(own, 0, 0xBADBAD, 4096);
        builder.Flush();
        Assert.Throws<CommandBufferRejectedException>(() => h.Kmd.Submit(1, ctx, sink.Commands, ReadOnlySpan<ResourceReference>.Empty));

        // When the pooled buffer is rented again, then none of the rejected dwords are left in it.
        var process = h.Kmd.Process(1);
        Assert.That(process.Outstanding, Is.Zero);
        List<DmaBuffer>? trimmed = null;
        Assert.That(process.TryRent(0, 4096, null, out var buffer, ref trimmed), Is.EqualTo(KmdProcess.RentOutcome.Rented));
        Assert.That(buffer.Dwords(h.Machine.VidMm.Memory)[..sink.Commands.Length].ToArray(), Is.All.Zero);
    }
}
