using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Advanced;

namespace Coproc.Fast.Tests.SaveState;

/// <summary>
/// The scheduling auditor is a host attachment, not machine state (Machine.SaveState's contract, docs/embedding.md
/// "Machine save-state"): a machine watched by one saves as if it were not, in the advanced model too, where the auditor
/// watches the run-list back end.
/// </summary>
public class AuditorAttachmentSaveStateTests
{
    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenAnAuditorWatchingTheRunListBackEnd_WhenTheMachineIsSavedMidRun_ThenItSavesAsAnUnwatchedMachineDoes(RunListMechanism mechanism)
    {
        byte[] Run(bool audited)
        {
            using var rig = new AdvancedRig(new RigOptions { RunLists = mechanism, QuantumCycles = 20_000 });
            if (audited) new SchedulingAuditor().Attach(rig.Scheduler);
            var p = rig.Scheduler.CreateProcess();
            var target = p.AllocatePinned(64 << 10);
            var a = rig.Scheduler.CreateContext(p);
            var b = rig.Scheduler.CreateContext(p);
            for (int i = 0; i < 4; i++)
            {
                rig.Submit(a, (ref PacketWriter w) => w.Fill(target.Va, 1, 64 << 10));
                rig.Submit(b, (ref PacketWriter w) => w.Fill(target.Va, 2, 64 << 10));
            }
            rig.Machine.RunFor(30_000);
            return MachineSaveStateWorkload.Save(rig.Machine);
        }

        var unwatched = Run(audited: false);
        byte[] watched = [];
        Assert.That(() => watched = Run(audited: true), Throws.Nothing, "a machine with the auditor attached saves");
        MachineSaveStateTests.SameBytes(watched, unwatched, "the auditor's per-back-end state is not part of the machine");
        using var restored = MachineSaveStateWorkload.Restore(watched);
        Assert.That(restored.RunListScheduler.Auditor, Is.Null, "a restored machine has no auditor until its host attaches one");
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenEqualsTakingTurns_WhenSnapshotMidRunAndRestored_ThenTheRestoredRunEndsInTheUninterruptedRunsState(RunListMechanism mechanism)
    {
        // Three equals with short buffers on lists of two: which one is listed next depends on when each one's last turn
        // ended (VaContext.LastTurnEnded, the back end's turn serial), so a restore that lost them would diverge.
        AdvancedRig Build()
        {
            var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { RunListLength = 2, QuantumCycles = 20_000 });
            var p = rig.Scheduler.CreateProcess();
            var log = p.AllocatePinned(4096);
            var target = p.AllocatePinned(3 << 16);
            var contexts = Enumerable.Range(0, 3).Select(_ => rig.Scheduler.CreateContext(p)).ToArray();
            for (uint k = 1; k <= 12; k++)
                for (int i = 0; i < contexts.Length; i++)
                {
                    int ci = i;
                    uint seq = k;
                    rig.Submit(contexts[ci], (ref PacketWriter w) =>
                    {
                        for (int f = 0; f < 4; f++) w.Fill(target.Va + ((ulong)ci << 16), seq, 1 << 16);
                        w.Copy(log.Va + 256 + (ulong)ci * 64 + (seq % 4) * 16, log.Va, 16);       // the others' progress now
                        w.WriteData(log.Va + (ulong)ci * 4, seq);
                    });
                }
            return rig;
        }

        const ulong Slice = 2_000;
        byte[] expected;
        int total = 0;
        using (var rig = Build())
        {
            while (!rig.Machine.AllIdle) { rig.Machine.RunFor(Slice); total++; }
            expected = MachineSaveStateWorkload.Save(rig.Machine);
        }
        Assert.That(total, Is.GreaterThan(10), "the run is long enough for a snapshot inside it");
        byte[] state;
        using (var rig = Build())
        {
            new SchedulingAuditor().Attach(rig.Scheduler);
            for (int i = 0; i < total / 2; i++) rig.Machine.RunFor(Slice);
            state = MachineSaveStateWorkload.Save(rig.Machine);
        }
        using var restored = MachineSaveStateWorkload.Restore(state);
        int rest = 0;
        while (!restored.AllIdle) { restored.RunFor(Slice); rest++; }
        Assert.That(total / 2 + rest, Is.EqualTo(total), "finishes in the same slice");
        MachineSaveStateTests.SameBytes(MachineSaveStateWorkload.Save(restored), expected, "the whole state after the restored run");
    }
}
