using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.SaveState;

/// <summary>
/// Machine save-state refusals (docs/embedding.md, "Machine save-state"): what the save-state does not cover is refused
/// with <see cref="MachineStateException"/> before a byte is written, and a stream that is not an intact save-state of
/// this build is refused before a machine is handed out.
/// </summary>
public class MachineSaveStateRefusalTests
{
    private static readonly Lazy<byte[]> MidRun = new(() =>
    {
        var (m, _, _, _) = MachineSaveStateWorkload.Build(new TraceRecorder(), x => new InterruptLog(x));
        using (m)
        {
            m.RunFor(400_000);
            return MachineSaveStateWorkload.Save(m);
        }
    });

    [Test]
    public void GivenAThreadedMachine_WhenSaved_ThenMachineStateExceptionAndNothingIsWritten()
    {
        using var m = new Machine(MachineSaveStateWorkload.Options() with { Mode = MachineRunMode.Threaded });
        using var s = new MemoryStream();
        Assert.That(() => m.SaveState(s), Throws.TypeOf<MachineStateException>().With.Message.Contains("threaded"));
        Assert.That(s.Length, Is.Zero);
    }

    [Test]
    public void GivenACallerSuppliedResidencyManager_WhenSaved_ThenMachineStateExceptionNamesItAndNothingIsWritten()
    {
        using var m = new Machine(MachineSaveStateWorkload.Options(), (vidmm, _) => new TestResidencyManager(vidmm));
        m.CreateContext(1);
        using var s = new MemoryStream();
        Assert.That(() => m.SaveState(s), Throws.TypeOf<MachineStateException>().With.Message.Contains(nameof(TestResidencyManager)));
        Assert.That(s.Length, Is.Zero);
    }

    [Test]
    public void GivenAnObserverThatSavesFromInsideTheStep_WhenTheMachineRuns_ThenMachineStateException()
    {
        var (m, _, _, _) = MachineSaveStateWorkload.Build(new TraceRecorder(), x => new InterruptLog(x));
        using (m)
        {
            var saver = new SavingObserver(m);
            m.SetObserver(saver);
            m.RunFor(300_000);
            Assert.That(saver.Refusal, Is.TypeOf<MachineStateException>().And.Message.Contains("inside the machine's step"));
            Assert.That(saver.Written, Is.Zero);
        }
    }

    [Test]
    public void GivenAnInterruptTapThatSavesWhileABatchIsDelivered_WhenTheMachineRuns_ThenMachineStateException()
    {
        var (m, _, _, _) = MachineSaveStateWorkload.Build(new TraceRecorder(), x => new InterruptLog(x));
        using (m)
        {
            var saver = new SavingTap(m);
            m.InterruptTap = saver;
            m.RunFor(300_000);
            Assert.That(saver.Refusal, Is.TypeOf<MachineStateException>().And.Message.Contains("inside the machine's step"));
            Assert.That(saver.Written, Is.Zero);
        }
    }

    private sealed class SavingTap(Machine machine) : IInterruptTap
    {
        public Exception? Refusal { get; private set; }
        public long Written { get; private set; }

        public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
        {
            if (Refusal is not null) return;
            using var s = new MemoryStream();
            try { machine.SaveState(s); }
            catch (MachineStateException x) { Refusal = x; }
            Written = s.Length;
        }
    }

    private sealed class SavingObserver(Machine machine) : IScheduleObserver
    {
        public Exception? Refusal { get; private set; }
        public long Written { get; private set; }

        public void OnEvent(in ScheduleEvent e)
        {
            if (Refusal is not null) return;
            using var s = new MemoryStream();
            try { machine.SaveState(s); }
            catch (MachineStateException x) { Refusal = x; }
            Written = s.Length;
        }
    }

    [Test]
    public void GivenADisposedMachine_WhenSaved_ThenObjectDisposedException()
    {
        var m = new Machine(MachineSaveStateWorkload.Options());
        m.Dispose();
        Assert.That(() => m.SaveState(new MemoryStream()), Throws.TypeOf<ObjectDisposedException>());
    }

    // Offsets across the stream: the header, the options block, the device's registers and its local and system memory,
    // the driver block, the checksum.
    [TestCase(0)]
    [TestCase(5)]
    [TestCase(13)]
    [TestCase(40)]
    [TestCase(200)]
    [TestCase(-1)]
    [TestCase(-40)]
    [TestCase(-5000)]
    [TestCase(-200_000)]
    public void GivenAStreamWithOneByteChanged_WhenRestored_ThenMachineStateException(int offset)
    {
        var state = (byte[])MidRun.Value.Clone();
        int at = offset >= 0 ? offset : state.Length + offset;
        state[at] ^= 0x5A;
        Assert.That(() => MachineSaveStateWorkload.Restore(state), Throws.TypeOf<MachineStateException>());
    }

    [Test]
    public void GivenAStreamWithAByteOfMemoryChanged_WhenRestored_ThenMachineStateExceptionFromTheChecksum()
    {
        var state = (byte[])MidRun.Value.Clone();
        state[state.Length / 2] ^= 1; // inside local or system memory: only the checksum can tell
        Assert.That(() => MachineSaveStateWorkload.Restore(state), Throws.TypeOf<MachineStateException>().With.Message.Contains("SHA-256"));
    }

    [TestCase(0)]
    [TestCase(3)]
    [TestCase(100)]
    [TestCase(1 << 20)]
    [TestCase(-33)]
    [TestCase(-1)]
    public void GivenATruncatedStream_WhenRestored_ThenMachineStateException(int length)
    {
        var full = MidRun.Value;
        var state = full.AsSpan(0, length >= 0 ? length : full.Length + length).ToArray();
        Assert.That(() => MachineSaveStateWorkload.Restore(state), Throws.TypeOf<MachineStateException>());
    }

    [Test]
    public void GivenADeviceSaveState_WhenRestoredAsAMachine_ThenMachineStateException()
    {
        using var m = new Machine(MachineSaveStateWorkload.Options());
        using var s = new MemoryStream();
        m.Device.SaveState(s, includeSystemMemory: true);
        Assert.That(() => MachineSaveStateWorkload.Restore(s.ToArray()), Throws.TypeOf<MachineStateException>().With.Message.Contains("CPMS"));
    }

    [Test]
    public void GivenARefusedStream_WhenTheIntactOneIsRestoredAfterIt_ThenItRestoresAndRuns()
    {
        var broken = (byte[])MidRun.Value.Clone();
        broken[^100] ^= 0xFF;
        Assert.That(() => MachineSaveStateWorkload.Restore(broken), Throws.TypeOf<MachineStateException>());
        using var m = MachineSaveStateWorkload.Restore(MidRun.Value);
        Assert.That(m.RunUntilIdle(), Is.True);
    }
}
