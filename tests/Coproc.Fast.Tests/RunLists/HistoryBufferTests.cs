using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.RunLists;

/// <summary>Seed 001 §6.5 (solution 2): the history buffer — behaviour 23, Fig. 19, the §6.3 ambiguity, wrap, size rule.</summary>
public class HistoryBufferTests
{
    [Test]
    public void HistoryBuffer_FourSwitchesBehindOneInterrupt()
    {
        // Given history mode and run list A (1-2-3-4-5) running 1; the CPU has handled everything so far.
        using var rig = new RunListRig(history: true);
        rig.LongCopy(1, 64 << 10);               // 1 runs ~2,100 cycles, then is empty
        rig.LongCopy(2);                         // 2 copies for ~8,300 cycles ...
        rig.PageFault(2, RunListRig.UnmappedVa); // ... then page-faults
        rig.PageFault(3, RunListRig.UnmappedVa + 0x1000);
        rig.Write(4, 0, 4);
        rig.Context(5);
        rig.Submitter.Submit(rig.List(1, 2, 3, 4, 5));
        rig.Device.Step(600);
        Assert.That(rig.History!.ReadAll().Select(r => r.Reason), Is.EqualTo(new[] { SwitchReason.NewRunList }));
        rig.Submitter.Refresh();
        uint serialA = rig.Submitter.CurrentSerial;

        // When, while the CPU processes 1's quantum expiry, 1 goes empty (→ 2); the scheduler sends B (2-3-4-5-1);
        // the engine takes B (2 → 2), 2 page-faults (→ 3), 3 page-faults (→ 4) — and only then the CPU looks.
        rig.Device.Step(5_000);
        rig.Submitter.Submit(rig.List(2, 3, 4, 5, 1));
        uint serialB = rig.Submitter.PendingSerial;
        rig.Device.Step(100_000);

        // Then exactly four records lie between the read pointer and the write pointer, in order.
        Assert.That(rig.History.Available, Is.EqualTo(4));
        var records = rig.History.ReadAll();
        Assert.That(records.Select(r => r.Reason), Is.EqualTo(new[]
            { SwitchReason.Empty, SwitchReason.NewRunList, SwitchReason.PageFault, SwitchReason.PageFault }));
        Assert.That(records.Select(r => (rig.IdOf(r.FromSaveArea), rig.IdOf(r.ToSaveArea))), Is.EqualTo(new[] { (1, 2), (2, 2), (2, 3), (3, 4) }));
        Assert.That(records.Select(r => r.ListSerial), Is.EqualTo(new[] { serialA, serialB, serialB, serialB }));
        Assert.That(records.Select(r => r.ToIndex), Is.EqualTo(new byte[] { 1, 0, 1, 2 }));
        Assert.That(records[2].FaultAddress, Is.EqualTo(RunListRig.UnmappedVa));
        Assert.That(records[3].FaultAddress, Is.EqualTo(RunListRig.UnmappedVa + 0x1000));
        Assert.That(records.Select(r => r.Sequence), Is.EqualTo(new ulong[] { 2, 3, 4, 5 }));
        Assert.That(records.Select(r => r.Cycle), Is.Ordered);
        Assert.That(rig.History.ReadPointer, Is.EqualTo(rig.History.WritePointer));
        Assert.That(rig.ReadLog(4, 0), Is.EqualTo(4u), "4 ran");
    }

    [Test]
    public void AmbiguousContext3_OfSection63_IsResolvedByTheHistoryBuffer()
    {
        // Current A = (1-3-5-2); the scheduler wants B = (4-1-3-2) because 4 became ready. In both scenarios the
        // running context sampled by the interrupt handler is 3 — only the history tells them apart.
        static (ulong Running, HistoryRecord[] Records, uint SerialB, RunListRig Rig) Scenario(bool engineReachedB)
        {
            var rig = new RunListRig(history: true);
            rig.LongCopy(1, 32 << 10);
            rig.LongCopy(3);
            rig.Context(5);
            rig.Context(2);
            rig.Submitter.Submit(rig.List(1, 3, 5, 2));
            rig.Device.Step(1_000); // 1 is running
            rig.Submitter.Refresh();
            rig.History!.ReadAll(); // the CPU is up to date
            rig.Write(4, 0, 4);
            if (engineReachedB)
            {
                // Scenario 1: B is submitted and the engine goes 1 → 4 → 1 → 3 before the CPU takes the interrupt.
                rig.Submitter.Submit(rig.List(4, 1, 3, 2));
                rig.Device.Step(3_000);
            }
            else
            {
                // Scenario 2: under A the engine moves 1 → 3; B is submitted, and the CPU is interrupted before the
                // engine reaches its next switch point.
                rig.Device.Step(3_000);
                rig.Submitter.Submit(rig.List(4, 1, 3, 2));
            }
            return (rig.Submitter.RunningContext, rig.History.ReadAll(), rig.Submitter.PendingSerial, rig);
        }

        var (running1, records1, serialB1, rig1) = Scenario(engineReachedB: true);
        var (running2, records2, serialB2, rig2) = Scenario(engineReachedB: false);
        using (rig1)
        using (rig2)
        {
            Assert.That(rig1.IdOf(running1), Is.EqualTo(3));
            Assert.That(rig2.IdOf(running2), Is.EqualTo(3), "the bare context-switch information is identical");

            // Scenario 1: records under B's serial show the engine took B and already left its head (4): build C.
            var underB1 = records1.Where(r => r.ListSerial == serialB1).ToArray();
            Assert.That(underB1, Is.Not.Empty);
            Assert.That(underB1[0].Reason, Is.EqualTo(SwitchReason.NewRunList));
            Assert.That(rig1.IdOf(underB1[^1].ToSaveArea), Is.Not.EqualTo(4), "left B's head");
            Assert.That(underB1.Select(r => (rig1.IdOf(r.FromSaveArea), rig1.IdOf(r.ToSaveArea))), Is.EqualTo(new[] { (1, 4), (4, 1), (1, 3) }));

            // Scenario 2: no record under B's serial — B has not started; the scheduler just waits.
            Assert.That(records2.Where(r => r.ListSerial == serialB2), Is.Empty);
            Assert.That(records2.Select(r => (r.Reason, rig2.IdOf(r.ToSaveArea))), Is.EqualTo(new[] { (SwitchReason.Empty, 3) }));
        }
    }

    [Test]
    public void HistoryBuffer_WrapsWithoutCpu_AndTheReaderSkipsOverwrittenRecords()
    {
        using var rig = new RunListRig(history: true, historyBytes: 4 * HistoryRecord.SizeInBytes);
        rig.Context(1);
        rig.Context(2);
        for (int i = 0; i < 10; i++)
        {
            rig.Submitter.Submit(rig.List(i % 2 == 0 ? 1 : 2));
            rig.Device.Step(1_000);
            rig.Submitter.Refresh();
        }
        // Ten switches into a four-record buffer: the device wrapped on its own.
        Assert.That(rig.History!.WritePointer, Is.EqualTo(10UL));
        var raw = rig.Device.Memory.GetSpan(RunListRig.HistoryBase, 4 * HistoryRecord.SizeInBytes);
        var slots = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, HistoryRecord>(raw).ToArray();
        Assert.That(slots.Select(r => r.Sequence), Is.EqualTo(new ulong[] { 9, 10, 7, 8 }), "record n at index (n - 1) mod 4");

        var read = rig.History.ReadAll();
        Assert.That(read.Select(r => r.Sequence), Is.EqualTo(new ulong[] { 7, 8, 9, 10 }));
        Assert.That(rig.History.LostRecords, Is.EqualTo(6));
        Assert.That(read.Select(r => rig.IdOf(r.ToSaveArea)), Is.EqualTo(new[] { 1, 2, 1, 2 }));
    }

    [Test]
    public void HistoryBuffer_SmallerThanTwiceTheRunList_IsRejected()
    {
        using var rig = new RunListRig(history: true, historyBytes: 6 * HistoryRecord.SizeInBytes);
        Assert.That(() => rig.Submitter.Submit(rig.List(1, 2, 3, 4)),
            Throws.TypeOf<RunListSubmitException>().With.Property("Status").EqualTo(RunListSubmitStatus.HistoryTooSmall));
        Assert.That(rig.State & RunListState.PendingBit, Is.Zero);
        Assert.That(rig.Submitter.HasPending, Is.False);
        Assert.That(rig.Submitter.TrySubmit(rig.List(1, 2, 3)), Is.EqualTo(RunListSubmitStatus.Ok), "6 records hold 2 × 3");
    }

    [Test]
    public void HistoryBufferConfiguration_RejectsBadPlacement_AndModeChangesWhileAListIsHeld()
    {
        using var rig = new RunListRig(history: false);
        var bus = rig.Bus;
        Assert.That(() => HistoryBufferReader.Enable(bus, PhysicalAddress.System(0x10800), 4096),
            Throws.TypeOf<RunListConfigurationException>().With.Property("Status").EqualTo(RunListConfigStatus.BadHistoryBase));
        Assert.That(() => HistoryBufferReader.Enable(bus, PhysicalAddress.Local(0x10000), 4096),
            Throws.TypeOf<RunListConfigurationException>().With.Property("Status").EqualTo(RunListConfigStatus.BadHistoryBase));
        Assert.That(() => HistoryBufferReader.Enable(bus, PhysicalAddress.System(0x10000), 100),
            Throws.TypeOf<RunListConfigurationException>().With.Property("Status").EqualTo(RunListConfigStatus.BadHistorySize));
        Assert.That(rig.Device.RunLists.Mode, Is.EqualTo(RunListMode.TwoElement), "nothing changed");

        rig.Submitter.Submit(rig.List(1));
        Assert.That(() => HistoryBufferReader.Enable(bus, RunListRig.HistoryBase, 4096),
            Throws.TypeOf<RunListConfigurationException>().With.Property("Status").EqualTo(RunListConfigStatus.Busy));
    }

    [Test]
    public void HistoryRecord_LayoutMatchesNativeLayout()
    {
        Assert.That(Unsafe.SizeOf<HistoryRecord>(), Is.EqualTo(64));
        Assert.That(Offset(nameof(HistoryRecord.Sequence)), Is.EqualTo(0));
        Assert.That(Offset(nameof(HistoryRecord.FromSaveArea)), Is.EqualTo(8));
        Assert.That(Offset(nameof(HistoryRecord.ToSaveArea)), Is.EqualTo(16));
        Assert.That(Offset(nameof(HistoryRecord.FromContextId)), Is.EqualTo(24));
        Assert.That(Offset(nameof(HistoryRecord.ToContextId)), Is.EqualTo(28));
        Assert.That(Offset(nameof(HistoryRecord.Reason)), Is.EqualTo(32));
        Assert.That(Offset(nameof(HistoryRecord.Engine)), Is.EqualTo(36));
        Assert.That(Offset(nameof(HistoryRecord.ToIndex)), Is.EqualTo(37));
        Assert.That(Offset(nameof(HistoryRecord.ListSerial)), Is.EqualTo(40));
        Assert.That(Offset(nameof(HistoryRecord.Cycle)), Is.EqualTo(48));
        Assert.That(Offset(nameof(HistoryRecord.FaultAddress)), Is.EqualTo(56));
    }

    private static int Offset(string field) =>
        (int)System.Runtime.InteropServices.Marshal.OffsetOf<HistoryRecord>(field);
}
