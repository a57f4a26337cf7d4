using Coproc.SampleHost;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>
/// tools/Coproc.SampleHost (docs/embedding.md): a machine with guest RAM in two ranges around a hole, both reached by the
/// device, and a guest driver that uses only the bus façade and native-layout.md, run in-process.
/// </summary>
public class SampleHostTests
{
    [Test]
    public void GivenTheSampleHost_WhenRun_ThenBatchesSnapshotRestoreFaultRepairDoorbellQueueAndResetBehaveAsDocumented()
    {
        var log = new StringWriter();
        var r = SampleMachine.Run(log);
        Assert.Multiple(() =>
        {
            Assert.That(r.Id, Is.Not.Zero);
            Assert.That(r.FirstFence, Is.EqualTo(1UL), "the first batch's fence interrupt");
            Assert.That(r.ContinuedFence, Is.EqualTo(2UL));
            Assert.That(r.RestoredFence, Is.EqualTo(r.ContinuedFence), "a restored snapshot finishes the batch as the original did");
            Assert.That(r.ContinuedWord, Is.EqualTo(0x5A5A_5A5Au));
            Assert.That(r.RestoredWord, Is.EqualTo(r.ContinuedWord));
            Assert.That(r.CycleAfterReset, Is.Zero, "RESET returns CYCLE to 0 (native-layout.md §20.3)");
            Assert.That(r.FenceAfterReset, Is.EqualTo(1UL), "the device powers on again after a reset");
            Assert.That(r.PageFaults, Is.EqualTo(1), "the unmapped page faults once");
            Assert.That(r.FenceAfterRepair, Is.EqualTo(3UL), "after the repair the faulting packet re-executes and the batch ends");
            Assert.That(r.RepairedWord, Is.EqualTo(0x7777_7777u));
            Assert.That(r.DoorbellRegisterStatus, Is.Zero, "DB_STATUS Ok");
            Assert.That(r.DoorbellFence, Is.EqualTo(9UL), "the user queue ran after its doorbell rang");
            Assert.That(r.DoorbellWord, Is.EqualTo(0xD00B_E11u), "the queue's write landed in guest RAM above the hole");
            Assert.That(r.DirtyHighPages, Is.EqualTo(2), "the device reported its writes above the hole: the queue's ReadPtr page and its data page");
            Assert.That(r.Succeeded, Is.True);
        });
        Assert.That(log.ToString(), Does.Contain("sample host: OK"), log.ToString());
    }
}
