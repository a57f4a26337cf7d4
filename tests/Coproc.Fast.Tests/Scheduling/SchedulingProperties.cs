using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Properties of the ring-0 path and the scheduler over random inputs (FsCheck).</summary>
public class SchedulingProperties
{
    private static readonly Opcode[] Menu = [Opcode.WriteData, Opcode.Copy, Opcode.Fill, Opcode.Timestamp, Opcode.Fence, Opcode.Signal, Opcode.Nop, Opcode.Trap];

    /// <summary>
    /// Valid-looking command buffers with random corruption and random resource lists: the KMD either accepts (and the
    /// buffer then completes, or faults only its own context) or refuses with a typed rejection and queues nothing.
    /// </summary>
    [FsProperty(MaxTest = 60, Replay = "(2026120707,55433)")]
    public void Kmd_AnyInput_IsAcceptedOrRejectedTyped_AndNeverHarmsAnotherContext(int seed, uint[] noise)
    {
        using var h = new SchedulingHarness(new VidSchOptions { TimeoutCycles = 200_000 }, localBytes: 4UL << 20, systemBytes: 4UL << 20);
        var ctx = h.Machine.CreateContext(1);
        var bystander = h.Machine.CreateContext(2);
        var mine = h.Allocate(1, 8192);
        var theirs = h.Allocate(2, 4096);
        var rng = new Random(seed);
        var cmds = new List<uint>();
        var refs = new List<ResourceReference>();
        int packets = rng.Next(1, 6);
        for (int p = 0; p < packets; p++)
        {
            var op = Menu[rng.Next(Menu.Length)];
            uint at = (uint)cmds.Count * 4;
            var buf = new uint[16];
            var w = new PacketWriter(buf);
            ulong off = (ulong)rng.Next(0, 8192 / 4) * 4;
            switch (op)
            {
                case Opcode.WriteData: w.WriteData(off, (uint)rng.Next()); break;
                case Opcode.Copy: w.Copy((ulong)rng.Next(0, 4096), (ulong)rng.Next(4096, 8000), (ulong)rng.Next(0, 200)); break;
                case Opcode.Fill: w.Fill(off, (uint)rng.Next(), (ulong)rng.Next(0, 300)); break;
                case Opcode.Timestamp: w.Timestamp(off & ~7UL); break;
                case Opcode.Fence: w.Fence(off & ~7UL, (ulong)rng.Next()); break;
                case Opcode.Signal: w.Signal(off); break;
                case Opcode.Nop: w.Nop(rng.Next(1, 4)); break;
                case Opcode.Trap: w.Trap((uint)rng.Next()); break;
            }
            cmds.AddRange(w.WrittenSpan.ToArray());
            int operands = op == Opcode.Copy ? 2 : op is Opcode.Nop or Opcode.Trap ? 0 : 1;
            for (int k = 0; k < operands; k++)
            {
                var handle = rng.Next(10) switch { 0 => theirs, 1 => new AllocationHandle(mine.Index, mine.Generation + 7), _ => mine };
                refs.Add(new ResourceReference(handle, rng.Next(12) == 0 ? at + 4 : at, (ushort)rng.Next(0, 18), op != Opcode.Copy || k == 1 || rng.Next(2) == 0));
            }
        }
        var dwords = cmds.ToArray();
        if (noise.Length > 0 && rng.Next(3) == 0) dwords[rng.Next(dwords.Length)] = noise[rng.Next(noise.Length)];
        long bystanderId = h.Submit(2, bystander, cb => cb.Fill(theirs, 0, 0x5A5A5A5A, 4096));

        long id = 0;
        try { id = h.Kmd.Submit(1, ctx, dwords, refs.ToArray()); }
        catch (CommandBufferRejectedException e)
        {
            Assert.That(e.Offset, Is.InRange(-1L, dwords.Length * 4L));
            Assert.That(ctx.Submitted, Is.Zero, "nothing queued");
        }

        Assert.That(h.Machine.RunUntilIdle(100_000_000), Is.True);
        if (id != 0) Assert.That(ctx.StatusOf(id), Is.AnyOf(SubmissionStatus.Completed, SubmissionStatus.FailedFault));
        Assert.That(bystander.StatusOf(bystanderId), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(theirs).All(b => b == 0x5A), Is.True, "another process's allocation is never touched");
    }

    /// <summary>Any workload of two contexts, preempted at any quantum, ends byte-identical to an uninterrupted run.</summary>
    [FsProperty(MaxTest = 15, Replay = "(2026120808,63353)")]
    public void Preemption_AnyWorkloadAndQuantum_EndsByteIdenticalToAnUninterruptedRun(int seed, ushort quantum)
    {
        var reference = Run(seed, 1UL << 40);
        var sliced = Run(seed, 300 + (ulong)quantum);
        Assert.That(sliced, Is.EqualTo(reference));
    }

    private static (uint, uint) Run(int seed, ulong quantum)
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = quantum }, localBytes: 4UL << 20, systemBytes: 4UL << 20);
        var rng = new Random(seed);
        var c = new[] { h.Machine.CreateContext(1), h.Machine.CreateContext(2) };
        var m = new[] { h.Allocate(1, 128 * 1024), h.Allocate(2, 128 * 1024) };
        int n = rng.Next(2, 8);
        for (int i = 0; i < n; i++)
        {
            int k = rng.Next(2);
            var ops = Enumerable.Range(0, rng.Next(1, 10)).Select(_ => (Kind: rng.Next(3), A: (ulong)rng.Next(0, 32) * 1024,
                B: (ulong)rng.Next(64, 96) * 1024, Len: (ulong)rng.Next(1, 32) * 1024, V: (uint)rng.Next())).ToArray();
            h.Submit((uint)k + 1, c[k], cb =>
            {
                foreach (var o in ops)
                {
                    if (o.Kind == 0) cb.Fill(m[k], o.A, o.V, o.Len);
                    else if (o.Kind == 1) cb.Copy(m[k], o.A, m[k], o.B, o.Len);
                    else cb.WriteData(m[k], o.B, [o.V, o.V ^ 0xFFFF]);
                }
            });
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(c.Sum(x => x.Completed), Is.EqualTo(n));
        return (SchedulingHarness.Checksum(h.Read(m[0])), SchedulingHarness.Checksum(h.Read(m[1])));
    }
}
