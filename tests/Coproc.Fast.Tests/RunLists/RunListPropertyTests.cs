using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.RunLists;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace Coproc.Fast.Tests.RunLists;

/// <summary>
/// Random submissions, appends, faults and step sizes against a model: every packet of a context that never faulted
/// runs exactly once and in order, nothing runs past a fault, and the history buffer is a gapless chain of switches
/// (each record starts where the previous one ended) whose run-list indices match the list they name.
/// </summary>
public class RunListPropertyTests
{
    private const int Contexts = 4;

    [Test]
    public void RandomRunListTraffic_ExecutesEachPacketOnce_InOrder_AndTheHistoryIsAGaplessChain()
    {
        var ops = Gen.Choose(20, 120).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, int.MaxValue), n));
        var property = Prop.ForAll(Arb.From(ops), Run);
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(40)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(0x5EED_0006UL, 0x9E37_79B9_7F4A_7C15UL), FSharpOption<int>.None)));
        Check.One(config, property);
    }

    private static bool Run(int[] ops)
    {
        using var rig = new RunListRig(history: true, historyBytes: 64 * HistoryRecord.SizeInBytes);
        var written = new int[Contexts + 1];   // packets appended per context (slot = sequence)
        var faultAt = Enumerable.Repeat(-1, Contexts + 1).ToArray(); // sequence after which the context faults (-1 = never)
        var lists = new Dictionary<uint, ulong[]>();
        var history = new List<HistoryRecord>();
        var buffer = new HistoryRecord[64];

        void Drain()
        {
            int n;
            while ((n = rig.History!.Read(buffer)) > 0) history.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        bool TrySubmit(ulong[] list)
        {
            rig.Submitter.Refresh();
            if (rig.Submitter.TrySubmit(list) != RunListSubmitStatus.Ok) return false;
            lists[rig.Submitter.PendingSerial] = list;
            return true;
        }

        foreach (int op in ops)
        {
            int ctx = 1 + (op >> 4) % Contexts;
            switch (op % 8)
            {
                case 0: case 1: case 2:
                    if (faultAt[ctx] >= 0) break;
                    written[ctx]++;
                    rig.Write(ctx, written[ctx], (uint)written[ctx]);
                    break;
                case 3:
                    if (faultAt[ctx] >= 0 || (op >> 8) % 4 != 0) break;
                    faultAt[ctx] = written[ctx];
                    rig.PageFault(ctx);
                    break;
                case 4: case 5:
                {
                    int count = 1 + (op >> 8) % Contexts;
                    var order = Enumerable.Range(1, Contexts).OrderBy(i => (i * 7919 + (op >> 12)) % 13).Take(count).ToArray();
                    TrySubmit(rig.List(order));
                    break;
                }
                default:
                    rig.Device.Step((ulong)(100 + (op >> 8) % 5000));
                    Drain();
                    break;
            }
        }
        // Finally every context gets the engine: lists until all healthy work is done.
        for (int round = 0; round < 20; round++)
        {
            rig.Device.Step(200_000);
            Drain();
            TrySubmit(rig.List(Enumerable.Range(1, Contexts).ToArray()));
        }
        rig.Device.Step(200_000);
        Drain();

        for (int c = 1; c <= Contexts; c++)
        {
            int last = faultAt[c] >= 0 ? faultAt[c] : written[c];
            for (int s = 1; s <= written[c]; s++)
            {
                uint expected = s <= last ? (uint)s : 0;
                if (rig.ReadLog(c, s) != expected) throw new InvalidOperationException($"context {c} slot {s}: {rig.ReadLog(c, s)} != {expected} (written {written[c]}, fault after {faultAt[c]}); state 0x{rig.State:X} cur {rig.IdOf(rig.Cp.CurrentContext)} flags {rig.Saved(c).Flags} fault {rig.Saved(c).Fault} reason {rig.Saved(c).LastSwitchReason} pos {rig.Saved(c).RingPosition} wp {rig.Context(c).WritePtr} rp {rig.Context(c).ReadPtr} cur {string.Join(",", rig.Submitter.Current.ToArray().Select(rig.IdOf))} pend {string.Join(",", rig.Submitter.Pending.ToArray().Select(rig.IdOf))} ops {string.Join(",", ops.Select(o => o % 8))}");
            }
            bool faulted = (rig.Cp.CurrentContext == rig.Sa(c) ? rig.Cp.Context.Flags : rig.Saved(c).Flags).HasFlag(ContextFlags.Faulted);
            if (faulted != (faultAt[c] >= 0)) throw new InvalidOperationException($"context {c} faulted {faulted}");
        }
        if (rig.History!.LostRecords != 0) throw new InvalidOperationException("lost records");
        for (int i = 0; i < history.Count; i++)
        {
            var r = history[i];
            if (r.Sequence != (ulong)(i + 1)) throw new InvalidOperationException($"record {i}: sequence {r.Sequence}");
            if (i > 0 && history[i - 1].ToSaveArea != r.FromSaveArea) throw new InvalidOperationException($"record {i}: {r} does not start where {history[i - 1]} ended");
            if (r.ToIndex != HistoryRecord.NoIndex && lists[r.ListSerial][r.ToIndex] != r.ToSaveArea) throw new InvalidOperationException($"record {i}: {r} index mismatch");
        }
        return true;
    }
}
