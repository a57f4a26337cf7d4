using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Random oversubscribed workloads on the advanced model — random contexts, priorities, surfaces, fills and copies,
/// random (possibly empty or partial) resource lists, both run-list mechanisms and both fault granularities — always
/// retire every buffer and leave every surface byte-identical to a CPU model of the same operations.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedPropertyTests
{
    [Test]
    public void RandomOversubscribedWorkloads_RetireEverything_AndMatchACpuModel()
    {
        var property = Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), Run);
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(20)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(0xADCA_0001UL, 0x9E37_79B9_7F4A_7C15UL), FSharpOption<int>.None)));
        Check.One(config, property);
    }

    private static bool Run(int seed)
    {
        var random = new Random(seed);
        var options = AdvancedRig.Small(
            random.Next(2) == 0 ? RunListMechanism.TwoElement : RunListMechanism.History,
            (PrivilegeEnforcement)random.Next(1, 4),
            random.Next(2) == 0 ? FaultGranularity.Surface : FaultGranularity.Page) with { QuantumCycles = (ulong)random.Next(20_000, 200_000) };
        using var rig = new AdvancedRig(options);
        const ulong size = 256 << 10;
        int contexts = random.Next(2, 6);
        var ctxs = new List<VaContext>();
        var surfaces = new List<GpuAllocation[]>();
        var model = new List<byte[][]>();
        for (int i = 0; i < contexts; i++)
        {
            var p = rig.Scheduler.CreateProcess();
            ctxs.Add(rig.Scheduler.CreateContext(p, random.Next(0, 3)));
            // Enough surfaces that all of them together are about twice the local budget.
            int n = (int)(2 * rig.Residency().ResidentBudget / size / (ulong)contexts);
            surfaces.Add(Enumerable.Range(0, n).Select(_ => p.AllocateSurface(size)).ToArray());
            model.Add(Enumerable.Range(0, n).Select(_ => new byte[size]).ToArray());
        }
        var tickets = new List<VaTicket>();
        for (int op = 0; op < 6 * contexts; op++)
        {
            int c = random.Next(contexts);
            var s = surfaces[c];
            int dst = random.Next(s.Length), src = random.Next(s.Length);
            int pages = (int)(size / 4096), first = random.Next(0, pages);
            ulong off = (ulong)first * 4096, bytes = (ulong)random.Next(1, pages - first + 1) * 4096;
            var listed = s.Where(_ => random.Next(3) == 0).Select(a => a.Handle).ToArray();
            if (src == dst || random.Next(2) == 0)
            {
                uint pattern = (uint)random.Next();
                tickets.Add(rig.Submit(ctxs[c], (ref PacketWriter w) => w.Fill(s[dst].Va + off, pattern, bytes), listed));
                AdvancedRig.Pattern(pattern, (int)bytes).CopyTo(model[c][dst], (int)off);
            }
            else
            {
                tickets.Add(rig.Submit(ctxs[c], (ref PacketWriter w) => w.Copy(s[dst].Va + off, s[src].Va + off, bytes), listed));
                Array.Copy(model[c][src], (int)off, model[c][dst], (int)off, (int)bytes);
            }
            if (random.Next(4) == 0) rig.Machine.RunFor((ulong)random.Next(1_000, 200_000));
        }
        bool idle = rig.Machine.RunUntilIdle();
        if (!idle || !tickets.All(t => t.IsComplete))
        {
            TestContext.Out.WriteLine($"seed {seed}: idle {idle}, {options.RunLists}/{options.Privilege}/{options.Faults}; " +
                string.Join("; ", ctxs.Select(x => $"{x} {x.ErrorReason} 0x{x.ErrorAddress:X} {x.CompletedFence}/{x.SubmittedFence}")));
            TestContext.Out.WriteLine($"now {rig.Machine.Now} paging list {rig.Scheduler.PagingList.Count} events {rig.Machine.EventsRun} irq {rig.Machine.InterruptBatches} steps {rig.Machine.DeviceSteps} paging {rig.Scheduler.Paging.Completed}/{rig.Scheduler.Paging.LastSubmitted} haswork {rig.Scheduler.Paging.HasWork}");
            var mm = rig.Machine.Device.Mmio;
            TestContext.Out.WriteLine($"engine0 status 0x{mm.Read32(Coproc.Fast.Device.Mmio.MmioMap.EngineBase + 0x20):X} ctx 0x{mm.Read64(Coproc.Fast.Device.Mmio.MmioMap.EngineBase + 0x08):X} rl state 0x{mm.Read32(Coproc.Fast.Device.Mmio.MmioMap.RunListBase + 0x0):X} {rig.Scheduler.RunLists.Mode}");
            TestContext.Out.WriteLine($"paging sa 0x{rig.Scheduler.Paging.Context.SaveArea.Encoded:X} rp {rig.Scheduler.Paging.Context.ReadPtr} wp {rig.Scheduler.Paging.Context.WritePtr}; " + string.Join(", ", ctxs.Select(x => $"0x{x.SaveArea:X}")));
            TestContext.Out.WriteLine($"current [{string.Join(",", rig.Scheduler.RunLists.Current.ToArray().Select(x => $"0x{x:X}"))}] pending {rig.Scheduler.RunLists.HasPending} vidmm prio {rig.Scheduler.PagingContextPriority} ctx prios {string.Join(",", ctxs.Select(x => x.Priority + (x.HasWork ? "w" : "")))}");
            foreach (var e in rig.Scheduler.Events.Where(e => e.Kind != RunListEventKind.Submitted && e.Kind != RunListEventKind.Prefetched).TakeLast(25)) TestContext.Out.WriteLine(e.ToString());
            return false;
        }
        for (int c = 0; c < contexts; c++)
            for (int i = 0; i < surfaces[c].Length; i++)
                if (!rig.Read(surfaces[c][i]).AsSpan().SequenceEqual(model[c][i]))
                {
                    TestContext.Out.WriteLine($"seed {seed}: context {c} surface {i} differs");
                    return false;
                }
        return true;
    }
}
