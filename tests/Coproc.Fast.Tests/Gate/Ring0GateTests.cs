using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Tests.Gate;

public class Ring0GateTests
{
    [TestCase(Ring0GatePolicy.None)]
    [TestCase(Ring0GatePolicy.Modeled)]
    [TestCase(Ring0GatePolicy.Real)]
    public void ArgumentsAreCopiedIn_SoTheCallerChangingItsBufferAfterEntryHasNoEffect(Ring0GatePolicy policy)
    {
        if (policy == Ring0GatePolicy.Real && !Ring0GateSyscall.IsSupported) Assert.Ignore("no libc getppid here");
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = policy });
        byte[] user = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        using var call = gate.Enter(5, user);
        Array.Fill(user, (byte)0xEE); // seed 001 §3.7: the application rewrites its buffer after validation
        Assert.That(call.Arguments.ToArray(), Is.EqualTo(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray()));
        Assert.That(gate.CopiedBytes, Is.EqualTo(256));
    }

    [Test]
    public void EntriesAreCountedPerProcess()
    {
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None });
        for (int i = 0; i < 3; i++) using (gate.Enter(1, [1, 2])) { }
        using (gate.Enter(2, [])) { }
        Assert.That((gate.EntriesOf(1), gate.EntriesOf(2), gate.EntriesOf(3), gate.TotalEntries), Is.EqualTo((3L, 1L, 0L, 4L)));
        Assert.That(gate.ChargedCycles, Is.EqualTo(0), "the None policy charges nothing");
    }

    [Test]
    public void ModeledPolicy_ChargesTheConfiguredVirtualCyclesPerEntry_ToTheClock()
    {
        ulong clock = 0;
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.Modeled, ModeledCycles = 300, ChargeVirtualCycles = c => clock += c });
        for (int i = 0; i < 4; i++) using (gate.Enter(1, [0])) { }
        Assert.That(clock, Is.EqualTo(1200UL));
        Assert.That(gate.ChargedCycles, Is.EqualTo(1200));
        Assert.That(new Ring0GateOptions().ModeledCycles, Is.EqualTo(250UL), "default: a ~250 ns system call at the 1 GHz device clock");
    }

    [Test]
    public void RealPolicy_MakesAnActualSystemCall_AndCountsLikeTheOthers()
    {
        if (!Ring0GateSyscall.IsSupported) Assert.Ignore("no libc getppid here");
        Assert.That(Ring0GateSyscall.Transition(), Is.GreaterThanOrEqualTo(0));
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.Real });
        using (gate.Enter(8, new byte[300])) { }
        Assert.That(gate.EntriesOf(8), Is.EqualTo(1));
        Assert.That(gate.ChargedCycles, Is.EqualTo(0), "real transitions are paid in wall-clock time, not virtual cycles");
    }

    [Test]
    public void ArgumentsLargerThanTheBuffer_GrowIt_AndReadBackAsAStruct()
    {
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None, ArgumentBufferBytes = 16 });
        var big = new byte[5000];
        big[4999] = 7;
        using (var call = gate.Enter(1, big)) Assert.That(call.Arguments[4999], Is.EqualTo(7));
        using (var call = gate.Enter(1, BitConverter.GetBytes(0x1122334455667788UL)))
            Assert.That(call.Read<ulong>(), Is.EqualTo(0x1122334455667788UL));
        Assert.Throws<ArgumentException>(() =>
        {
            using var call = gate.Enter(1, [1, 2]);
            call.Read<ulong>();
        });
    }

    [Test]
    public void SteadyStateEntries_AllocateNothing()
    {
        var gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.Modeled });
        Span<byte> args = stackalloc byte[256];
        for (int i = 0; i < 100; i++) using (gate.Enter(3, args)) { }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) using (gate.Enter(3, args)) { }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.EqualTo(0));
    }
}
