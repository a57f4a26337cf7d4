using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Gate;

/// <summary>
/// docs/performance.md goal 2's cheaper ring-0 path must keep its semantics: one copy-in straight into the kernel-only DMA
/// buffer (seed 001 §3.7), exact per-process counts without a dictionary or interlocked operations, one entry per call.
/// </summary>
[TestFixture]
public sealed class SingleCopySubmissionTests
{
    [Test]
    public void GivenASubmittedBuffer_WhenTheApplicationRewritesItsArraysAfterSubmit_ThenTheDeviceExecutesWhatWasSubmitted()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(3);
        var target = h.Allocate(3);
        var sink = new CapturingSink();
        var b = new Coproc.Fast.Driver.Umd.CommandBufferBuilder(sink, capacityDwords: 64, capacityReferences: 4);
        b.WriteData(target, 0, [0x11111111u]);
        b.Flush();
        uint[] commands = sink.Commands;
        ResourceReference[] references = sink.References;

        long id = h.Kmd.Submit(3, ctx, commands, references);
        // seed 001 §3.7: the application rewrites its command buffer and resource list after the call returned.
        for (int i = 0; i < commands.Length; i++)
            if (commands[i] == 0x11111111u) commands[i] = 0x22222222u;
        Array.Fill(references, default);

        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(target, 0), Is.EqualTo(0x11111111u), "the kernel's copy, not the application's rewrite, ran");
        Assert.That(h.Machine.Gate.EntriesOf(3), Is.EqualTo(1));
        Assert.That(h.Machine.Gate.CopiedBytes, Is.EqualTo(16 + commands.Length * 4 + references.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<ResourceReference>()),
            "header + command buffer + resource list, each byte copied in once");
    }

    [Test]
    public void GivenARejectedBuffer_WhenSubmitted_ThenItsDmaBufferReturnsToThePool_AndTheEntryStillCounts()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(4);
        uint[] privileged = new uint[8];
        new PacketWriter(privileged).EnableContextSwitch();

        Assert.Throws<CommandBufferRejectedException>(() => h.Kmd.Submit(4, ctx, privileged, []));
        var ex = Assert.Throws<CommandBufferRejectedException>(() => h.Kmd.Submit(4, ctx, [], []));
        Assert.That(ex!.Reason, Is.EqualTo(CommandBufferRejection.Empty));

        var process = h.Kmd.Process(4);
        Assert.That(process.DmaBuffersPooled, Is.EqualTo(process.DmaBuffersCreated), "no rejected buffer leaks out of the pool");
        Assert.That(ctx.Submitted, Is.Zero);
        Assert.That(h.Machine.Gate.EntriesOf(4), Is.EqualTo(2), "a rejected call still crossed the gate once");
    }

    [Test]
    public void GivenFourThreadsAndTwoProcesses_WhenEachEntersConcurrently_ThenEveryCountIsExact()
    {
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None });
        const int perThread = 5_000;
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            Span<byte> args = stackalloc byte[8];
            for (int i = 0; i < perThread; i++)
                using (gate.Enter((uint)(1 + (i + t) % 2), args)) { }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.That(t.Join(TimeSpan.FromSeconds(30)), Is.True, "failure guard only");

        // The threads have finished: their slots still count.
        Assert.That((gate.EntriesOf(1), gate.EntriesOf(2), gate.TotalEntries), Is.EqualTo((2L * perThread, 2L * perThread, 4L * perThread)));
        Assert.That(gate.CopiedBytes, Is.EqualTo(4L * perThread * 8));
    }

    [Test]
    public void GivenANestedEntry_WhenBothCallsAreHeld_ThenEachKeepsItsOwnKernelCopy_AndNothingIsAllocatedInSteadyState()
    {
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None });
        byte[] outer = [1, 2, 3, 4], inner = [9, 8, 7, 6];
        void Nested()
        {
            using var a = gate.Enter(1, outer);
            using (var b = gate.Enter(2, inner)) Assert.That(b.Arguments.ToArray(), Is.EqualTo(inner));
            Assert.That(a.Arguments.ToArray(), Is.EqualTo(outer), "the inner call did not reuse the outer call's buffer");
        }
        Nested();
        var otherGate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None });
        using (otherGate.Enter(1, outer)) { } // another gate in between: counts stay per gate
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            using var a = gate.Enter(1, outer);
            using var b = gate.Enter(2, inner);
        }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.EqualTo(0));
        Assert.That((gate.EntriesOf(1), gate.EntriesOf(2), otherGate.EntriesOf(1)), Is.EqualTo((101L, 101L, 1L)));
    }
}
