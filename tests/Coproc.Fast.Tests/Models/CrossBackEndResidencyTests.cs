using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// In the advanced model the run-list back end (render) and the kernel path (other engines) share VidMm. Memory a
/// kernel-path buffer in flight uses must never be moved by the run-list back end's paging (VidSch's pinned-chunk
/// invariant, across back ends): the demand-paged process waits, and both results are byte-exact.
/// </summary>
public class CrossBackEndResidencyTests
{
    private const int Chunk = 1 << 20;

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void DemandPagingOnRender_NeverEvictsWhatAKernelPathBufferInFlightUses(RunListMechanism mechanism)
    {
        // Given 8 MiB of local memory, a kernel-path context on compute filling its 4 MiB allocation in many packets
        // (in flight for a long time), and a process on the run lists touching two 3 MiB surfaces it never listed.
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new() { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 64UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            RunLists = new RunListOptions { Mechanism = mechanism, QuantumCycles = 50_000 },
        });
        var kernel = m.CreateContext(1, 0, EngineKind.Compute);
        var a = m.AllocateManaged(1, kernel, 4 * Chunk);
        var o = m.Scheduler.Options;
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(1, kernel), o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
        for (int round = 1; round <= 6; round++)
            for (int i = 0; i < 4; i++) umd.Fill(a, (ulong)i * Chunk, (uint)(0x0A0A0A00 + round), Chunk);
        umd.Flush();
        m.RunFor(20_000); // the kernel-path buffer is resident and running

        var rl = m.RunListScheduler;
        var p = rl.CreateProcess();
        var ctx = rl.CreateContext(p);
        var s1 = p.AllocateSurface(3 * Chunk);
        var s2 = p.AllocateSurface(3 * Chunk);
        var buffer = p.CreateDmaBuffer(64);
        var w = buffer.Writer();
        w.Fill(s1.Va, 0x11111111, 3 * Chunk);
        w.Fill(s2.Va, 0x22222222, 3 * Chunk);
        Assert.That(rl.TrySubmit(ctx, buffer, w.Written, [], out var ticket), Is.True);

        // When everything runs.
        Assert.That(m.RunUntilIdle(), Is.True);

        // Then both finished and every byte is right: the kernel-path allocation holds its last round, the surfaces theirs.
        Assert.That(kernel.StatusOf(kernel.Submitted), Is.EqualTo(Coproc.Fast.Driver.VidSch.SubmissionStatus.Completed));
        Assert.That(ticket.IsComplete, Is.True, ctx.ErrorReason);
        AssertAll(ModelWorkload.Read(m, a, 4 * Chunk), 0x0A0A0A06u, "the kernel-path allocation");
        AssertAll(ModelWorkload.Read(m, s1.Handle, 3 * Chunk), 0x11111111u, "surface 1");
        AssertAll(ModelWorkload.Read(m, s2.Handle, 3 * Chunk), 0x22222222u, "surface 2");
    }

    // Reports the first wrong word only (NUnit would print megabytes).
    private static void AssertAll(byte[] bytes, uint expected, string what)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(bytes);
        int bad = -1;
        for (int i = 0; i < words.Length && bad < 0; i++) if (words[i] != expected) bad = i;
        Assert.That(bad, Is.EqualTo(-1), bad < 0 ? "" : $"{what}: word {bad} is 0x{words[bad]:X8}, expected 0x{expected:X8}");
    }
}
