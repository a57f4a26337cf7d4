using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.SaveState;

/// <summary>
/// A restored machine has one kernel lock, shared by the same parts as in the saved machine (the scheduler group, the
/// present manager, the run-list back end, the user-queue registrar), so the guards that test "under the kernel lock"
/// hold in the restored machine as in the saved one.
/// </summary>
public class MachineSaveStateLockIdentityTests
{
    [Test]
    public void GivenAnAdvancedModelMachine_WhenRestored_ThenTheRunListBackEndSharesTheSchedulersKernelLock()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Advanced });
        Assert.That(m.RunListScheduler.KernelLock, Is.SameAs(m.Scheduler.KernelLock), "precondition: one kernel lock");
        using var restored = MachineSaveStateWorkload.Restore(MachineSaveStateWorkload.Save(m));
        Assert.That(restored.RunListScheduler.KernelLock, Is.SameAs(restored.Scheduler.KernelLock));
    }

    [Test]
    public void GivenARestoredMachine_WhenAFlipCallbackCallsMapToCpu_ThenItIsRefusedAsInTheSavedMachine()
    {
        var (m, allocations, _, _) = MachineSaveStateWorkload.Build(new TraceRecorder(), x => new InterruptLog(x));
        byte[] state;
        using (m)
        {
            Assert.That(Attempt(m, allocations[^1]), Is.TypeOf<InvalidOperationException>(), "saved machine: refused under the kernel lock");
        }
        (m, allocations, _, _) = MachineSaveStateWorkload.Build(new TraceRecorder(), x => new InterruptLog(x));
        using (m) state = MachineSaveStateWorkload.Save(m);
        using var restored = MachineSaveStateWorkload.Restore(state);
        Assert.That(Attempt(restored, allocations[^1]), Is.TypeOf<InvalidOperationException>(), "restored machine: refused too");
    }

    // Runs the machine with a flip callback (called under the present manager's lock, i.e. the kernel lock) that maps an
    // allocation for the CPU; returns what MapToCpu threw (null: it was not refused).
    private static Exception? Attempt(Machine m, AllocationHandle allocation)
    {
        CpuAddressSpace cpu;
        lock (m.Scheduler.KernelLock) cpu = m.VidMm.CreateCpuAddressSpace();
        Exception? seen = null;
        bool called = false;
        m.Display.FlipCompleted = _ =>
        {
            if (called) return;
            called = true;
            try { m.MapToCpu(cpu, allocation, 0, 4096, CpuAddressHalf.User); }
            catch (Exception e) { seen = e; }
        };
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(called, Is.True, "a flip completed (precondition)");
        return seen;
    }
}
