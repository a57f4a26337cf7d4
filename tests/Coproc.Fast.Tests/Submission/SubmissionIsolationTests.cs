using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Submission;

/// <summary>
/// <see cref="Machine.TrySubmit"/>'s access rule (docs/models.md "One submission call"): a recording may name only
/// allocations the context's process owns or shares <em>now</em> (the KMD's record, <see cref="KmdProcess.TryGetSize"/>),
/// whatever path the model takes; a refused recording runs none of its work.
/// </summary>
[TestFixture]
public class SubmissionIsolationTests
{
    // Process 1 shares its allocation with process 2, process 2 uses it once, then process 1 takes the share back
    // (KmdProcess.Disown: "handed over"). From then on the KMD's record no longer names it for process 2: the kernel path
    // refuses it, and so must the VA paths — a VA cached from the earlier use must not outlive the record. And the mapping
    // made for process 2 goes with the share (Machine.ForgetSubmissionMapping), so the owner decides when it frees its
    // memory: VidMm refuses to free a mapped allocation.
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAShareTakenBack_WhenTheFormerSharerSubmitsIt_ThenItIsRefusedAndTheOwnersBytesStayUntouched_AndTheOwnerCanFreeIt(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var owners = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        m.Kmd.Process(2).Own(owners, 4096); // shared with process 2
        var context = m.OpenContext(2);
        Assert.That(m.TrySubmit(context, r => r.Fill(owners, 0, 0x11111111u, 4096)), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(ModelWorkload.Read(m, owners, 4096), Is.All.EqualTo((byte)0x11), "premise: the share was used");

        m.Kmd.Process(2).Disown(owners); // the share is taken back
        Assert.That(m.Kmd.Process(2).TryGetSize(owners, out _), Is.False, "premise: the KMD's record no longer names it");

        var refused = Assert.Catch(() => m.TrySubmit(context, r => r.Fill(owners, 0, 0x66666666u, 4096)));
        Assert.That(refused, Is.InstanceOf<AllocationNotSharedException>().Or.InstanceOf<CommandBufferRejectedException>(), refused?.ToString());
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(ModelWorkload.Read(m, owners, 4096).Count(b => b != 0x11), Is.Zero, "bytes process 2 wrote into process 1's memory");
        Assert.DoesNotThrow(() => { lock (m.Scheduler.KernelLock) m.VidMm.Free(owners); }, "the owner frees its allocation");
    }

    // The kernel path's UMD builder flushes a full command buffer by itself (seed 001 §3.1 step 4), so a recording larger
    // than one DMA buffer would reach the KMD as several submissions, and a refused later one would leave the earlier ones
    // queued. TrySubmit holds the builder's buffers and submits only a recording that is one (else TooLarge): none of it runs.
    [Test]
    public void GivenARecordingLargerThanOneDmaBuffer_WhenItsLastPartNamesAnotherProcesssAllocation_ThenNoneOfItRuns()
    {
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Basic, Device = ModelWorkload.Device(),
            Scheduler = new VidSchOptions { DmaBufferDwords = 64 },
        });
        var mine = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var theirs = m.Kmd.Allocate(2, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);

        var refused = Assert.Catch(() => m.TrySubmit(context, r =>
        {
            for (int i = 0; i < 64; i++) r.Fill(mine, 0, 0x11111111u, 4096); // several DMA buffers' worth
            r.Fill(theirs, 0, 0x66666666u, 4096);
        }));
        Assert.That(refused, Is.InstanceOf<CommandBufferRejectedException>(), refused?.ToString());

        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(ModelWorkload.Read(m, theirs, 4096).Count(b => b != 0), Is.Zero, "the other process's memory is untouched");
        Assert.That(ModelWorkload.Read(m, mine, 4096).Count(b => b != 0), Is.Zero, "bytes written: the refused recording ran none of its work");
    }

    // An allocation freed through VidMm (never mapped, so the free is allowed) stays in the KMD's record of its process
    // (VideoMemoryManager.Free does not Disown). Naming its stale handle must give TrySubmit's documented refusal
    // (AllocationNotSharedException on the VA paths, CommandBufferRejectedException on the kernel path), not a VidMm error.
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAFreedAllocationStillInTheKmdsRecord_WhenARecordingNamesIt_ThenTheRefusalIsTheDocumentedTypedError(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var freed = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        lock (m.Scheduler.KernelLock) m.VidMm.Free(freed);
        var context = m.OpenContext(1);

        var refused = Assert.Catch(() => m.TrySubmit(context, r => r.Fill(freed, 0, 0x66666666u, 4096)));
        Assert.That(refused, Is.InstanceOf<AllocationNotSharedException>().Or.InstanceOf<CommandBufferRejectedException>(), refused?.ToString());
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(context.IsStopped, Is.False);
    }

    // The run-list path puts each recording in a user DMA buffer (a system-memory allocation mapped into the process's
    // space), reused once its submission is done. A workload that submits, runs, and submits again must run in bounded memory: 2,000 one-dword recordings, each run
    // to completion before the next, in 4 MiB of system memory (1,024 pages).
    [Test]
    public void Advanced_GivenManySmallRecordingsEachRunToCompletion_ThenSystemMemoryDoesNotRunOut()
    {
        var device = ModelWorkload.Device() with { SystemMemoryBytes = 4UL << 20 };
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Advanced, Device = device });
        var target = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);

        for (uint i = 1; i <= 2000; i++)
        {
            uint value = i;
            bool queued;
            try { queued = m.TrySubmit(context, r => r.WriteData(target, 0, value)); }
            catch (VidMmException e) { Assert.Fail($"submission {i}: {e.Message}"); return; }
            Assert.That(queued, Is.True, $"submission {i}");
            Assert.That(m.RunUntilIdle(), Is.True);
        }
        Assert.That(BitConverter.ToUInt32(ModelWorkload.Read(m, target, 4)), Is.EqualTo(2000u));
    }

    // docs/models.md "One submission call": TrySubmit returns false, with nothing submitted, when the context has no room,
    // so one workload loop ("until TrySubmit takes it, run the machine") serves every model. The kernel path's "no room" is
    // the KMD's outstanding-submissions quota (KmdQuotas.MaxOutstandingSubmissions), whose
    // CommandBufferRejectedException(QuotaExceeded) TrySubmit turns into false. Here the context's first recording WAITs on
    // a counter that is 0, so the ones after it stay outstanding until the test releases it.
    [Test]
    public void Basic_GivenTheOutstandingSubmissionQuotaReached_WhenTrySubmitIsCalled_ThenItReturnsFalseLikeTheOtherPaths()
    {
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Basic, Device = ModelWorkload.Device(), Quotas = new KmdQuotas { MaxOutstandingSubmissions = 4 },
        });
        var gate = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var counter = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);
        Assert.That(m.TrySubmit(context, r => r.Wait(gate, 0)), Is.True);
        int accepted = 0;
        bool refusedWithFalse = false;
        for (int i = 0; i < 8 && !refusedWithFalse; i++)
        {
            bool queued = false;
            Assert.DoesNotThrow(() => queued = m.TrySubmit(context, r => r.Signal(counter, 0)), $"submission {i + 2}");
            if (queued) accepted++;
            else refusedWithFalse = true;
        }
        Assert.That(refusedWithFalse, Is.True, "the quota refuses a submission with false");

        m.Device.Memory.Write32(m.VidMm.PhysicalAddressOf(gate, 0), 1); // release the WAIT
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(BitConverter.ToUInt32(ModelWorkload.Read(m, counter, 4)), Is.EqualTo((uint)accepted), "every accepted recording ran, no refused one");
    }

    // TrySubmit checks that the context is live before it runs the recording, then writes the queue's ring after it. A queue
    // unregistered in between (here by the recording itself; in threaded mode by any host thread) has had its descriptor,
    // ring and save area freed (UserQueueRegistrar.Unregister), and the freed ring may already be another process's
    // allocation, which the KMD promised reads as zeros (Kmd.Allocate): TrySubmit re-checks under the lock Unregister holds.
    [Test]
    public void Hardware_GivenTheQueueUnregisteredWhileItsRecordingIsMade_ThenNothingIsWrittenIntoMemoryAnotherProcessNowOwns()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Hardware, Device = ModelWorkload.Device() });
        var mine = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var queue = (UserQueueContext)m.OpenContext(1);
        AllocationHandle theirs = default;

        bool queued = false;
        Exception? refused = null;
        try
        {
            queued = m.TrySubmit(queue, r =>
            {
                r.Fill(mine, 0, 0x66666666u, 4096);
                m.UserQueues.Unregister(queue.Registration);
                theirs = m.Kmd.Allocate(2, 64 << 10, PlacementHint.SystemOnly, AllocationFlags.Contiguous); // the ring's size
            });
        }
        catch (Exception e) { refused = e; }

        Assert.That(ModelWorkload.Read(m, theirs, 64 << 10).Count(b => b != 0), Is.Zero, "bytes written into process 2's new allocation");
        Assert.That(queued, Is.False, $"a recording for an unregistered queue is not reported queued ({refused?.GetType().Name})");
    }

    // An operand past the end of its allocation: the kernel path's KMD refuses the buffer (CommandBufferRejectedException,
    // OutOfBounds; nothing runs, the context goes on). The VA paths know the allocation's size too (the KMD's record gives
    // it) and refuse it the same way before writing: otherwise the device would fault the context for good, or, where the
    // space maps something right after the allocation, the write would land there.
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAnOperandPastTheEndOfItsAllocation_ThenEveryPathRefusesItBeforeAnythingRuns_AndTheContextGoesOn(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var a = m.Kmd.Allocate(1, 8192, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);

        var refused = Assert.Catch(() => m.TrySubmit(context, r => r.Fill(a, 4096, 0x77777777u, 8192))); // [4 KiB, 12 KiB) of 8 KiB
        Assert.That(refused, Is.InstanceOf<CommandBufferRejectedException>().Or.InstanceOf<ArgumentException>().Or.InstanceOf<InvalidOperationException>(), refused?.ToString());
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(context.IsStopped, Is.False, "the context was not stopped by a refused recording");
        Assert.That(ModelWorkload.Read(m, a, 8192).Count(b => b != 0), Is.Zero, "nothing of the refused recording ran");
    }
}
