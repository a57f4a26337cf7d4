using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// One set of synchronization objects for the machine (seed 001 §10–§11; VidSch/Sync/SyncObjectTable.cs): wait-any,
/// wait-all and the event history behave the same whether the waiting context is driven by direct switching (basic
/// model) or by run lists (advanced model), and one object synchronizes contexts of both back ends.
/// </summary>
public class SharedSyncObjectTests
{
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void WaitAny_TakesTheFirstObjectThatCanBeTaken_ReleasesTheHeldBackWork_AndLeavesTheOtherObjectAlone(SchedulingModel model)
    {
        // Given a mutex held by X (never released here) and an empty semaphore; W waits on either, then writes.
        using var stage = SyncStage.For(model);
        var (x, w, y, mutex, sem) = MutexHeldAndEmptySemaphore(stage);
        stage.Wait(w, [mutex, sem], waitAll: false);
        stage.Write(w, slot: 0, 0xA11);
        Assert.That(stage.RunUntilIdle(), Is.True);
        Assert.That(stage.Info(w) is { Blocked: true, OnWaitList: true, HeldBackBuffers: 1 }, Is.True, "W is on both wait lists, its write held back");
        Assert.That((stage.Query(mutex).Waiters, stage.Query(sem).Waiters), Is.EqualTo((1, 1)));
        Assert.That(stage.Read(0), Is.Zero);

        // When Y releases the semaphore.
        stage.Signal(y, sem);
        Assert.That(stage.RunUntilIdle(), Is.True);

        // Then W took the semaphore (index 1 of its wait), left the mutex's wait list, and its write ran.
        Assert.That(stage.Info(w) is { Blocked: false, OnWaitList: false, WaitAnyIndex: 1 }, Is.True);
        Assert.That(stage.Query(sem) is { Count: 0, Waiters: 0 }, Is.True);
        Assert.That(stage.Query(mutex).OwnerContextId, Is.EqualTo(stage.IdOf(x)));
        Assert.That(stage.Query(mutex).Waiters, Is.Zero);
        Assert.That(stage.Read(0), Is.EqualTo(0xA11u));
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void WaitAll_TakesNothingUntilEveryObjectCanBeTaken_ThenTakesThemAllAtOnce(SchedulingModel model)
    {
        // Given W waiting for a mutex X holds and an empty semaphore, both at once.
        using var stage = SyncStage.For(model);
        var (x, w, y, mutex, sem) = MutexHeldAndEmptySemaphore(stage);
        stage.Wait(w, [mutex, sem], waitAll: true);
        stage.Write(w, slot: 0, 0xA11);

        // When only the semaphore is released: W takes nothing (the count stays available).
        stage.Signal(y, sem);
        Assert.That(stage.RunUntilIdle(), Is.True);
        Assert.That(stage.Info(w).Blocked, Is.True);
        Assert.That(stage.Query(sem).Count, Is.EqualTo(1));
        Assert.That(stage.Read(0), Is.Zero);

        // When X releases the mutex too: W takes both and runs.
        stage.Signal(x, mutex);
        Assert.That(stage.RunUntilIdle(), Is.True);
        Assert.That(stage.Info(w) is { Blocked: false, OwnedMutexes: 1, WaitAnyIndex: -1 }, Is.True);
        Assert.That(stage.Query(mutex).OwnerContextId, Is.EqualTo(stage.IdOf(w)));
        Assert.That(stage.Query(sem).Count, Is.Zero);
        Assert.That(stage.Read(0), Is.EqualTo(0xA11u));
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void EventHistory_ASignalTakesEffectOnlyAtItsFence_AfterTheSignallersEarlierWork_AndWakesTheWaiterThen(SchedulingModel model)
    {
        // Given B waiting on an event (then copying slot 0 to slot 1), and A writing slot 0 before signalling the event.
        using var stage = SyncStage.For(model);
        var a = stage.NewContext(1);
        var b = stage.NewContext(1);
        uint ev = stage.Create(1, SyncObjectKind.NotificationEvent);
        stage.Wait(b, [ev], waitAll: true);
        stage.Copy(b, fromSlot: 0, toSlot: 1);
        Assert.That(stage.RunUntilIdle(), Is.True);

        // When A's write and signal run.
        stage.Write(a, slot: 0, 0x5EED);
        stage.Signal(a, ev);
        Assert.That(stage.RunUntilIdle(), Is.True);

        // Then B's copy saw A's write: the signal was processed only once A's fence passed the buffer before it.
        Assert.That(stage.Read(1), Is.EqualTo(0x5EEDu));
        var log = stage.Log;
        var wait = log.Single(r => r.ContextId == stage.IdOf(b) && r.Kind == SchedulerEventKind.WaitSync);
        var signal = log.Single(r => r.ContextId == stage.IdOf(a) && r.Kind == SchedulerEventKind.SignalSync);
        Assert.That(wait.Outcome, Is.EqualTo(SchedulerEventOutcome.WaitListed));
        Assert.That(signal.Outcome, Is.EqualTo(SchedulerEventOutcome.Signalled));
        Assert.That(signal.Woken, Is.EqualTo(new[] { stage.IdOf(b) }));
        Assert.That(signal.ObjectHandle, Is.EqualTo(ev));
        Assert.That(signal.Fence, Is.GreaterThan(stage.FenceOfLastWrite(a)), "the signal's fence follows the buffer's");
        Assert.That(signal.FenceRead, Is.GreaterThanOrEqualTo(signal.Fence));
        Assert.That(log.IndexOf(signal), Is.GreaterThan(log.IndexOf(wait)));
        // Each context's events are processed in fence order.
        foreach (var id in new[] { stage.IdOf(a), stage.IdOf(b) })
        {
            var fences = log.Where(r => r.ContextId == id).Select(r => r.Fence).ToArray();
            Assert.That(fences, Is.Ordered);
        }
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void UserModeCompletionEvent_IsSignalledOnlyOnceTheBuffersTrailingFenceIsReadBack_NotWhenItIsWritten(SchedulingModel model)
    {
        // Given a long interrupt latency and a buffer submitted with a CPU event (seed 001 §10.4).
        using var stage = SyncStage.For(model, interruptLatencyCycles: 100_000);
        var c = stage.NewContext(1);
        using var done = new UserModeCompletionEvent();
        ulong trailing = stage.FillLogNotifying(c, 0x0D0E_0D0E, done);

        // When the device has written the buffer's trailing fence: not yet signalled (the interrupt is not serviced).
        Assert.That(stage.Machine.RunUntil(() => stage.FenceInMemory(c) >= trailing), Is.True);
        ulong writtenBy = stage.Machine.Now;
        Assert.That(done.IsSignaled, Is.False);

        // Then the walk that reads it back signals the event once, with the buffer's work in memory.
        Assert.That(stage.RunUntilIdle(), Is.True);
        Assert.That(done.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(done.SignalCount, Is.EqualTo(1));
        Assert.That(done.SignaledAtFence, Is.GreaterThanOrEqualTo(trailing));
        Assert.That(done.SignaledAtCycle, Is.GreaterThan(writtenBy));
        Assert.That(stage.Read(1023), Is.EqualTo(0x0D0E_0D0Eu));
        var note = stage.Log.Single(r => r.ContextId == stage.IdOf(c) && r.Kind == SchedulerEventKind.UserModeNotification);
        Assert.That((note.Fence, note.Outcome), Is.EqualTo((trailing, SchedulerEventOutcome.Notified)));
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void AMutexSharedAcrossProcesses_HoldsTheSecondProcessBack_UntilTheFirstReleasesItAfterItsWrite(SchedulingModel model)
    {
        // Given process 1's context holding a mutex it shared with process 2.
        using var stage = SyncStage.For(model);
        var first = stage.NewContext(1);
        var second = stage.NewContext(2);
        uint mutex = stage.Create(1, SyncObjectKind.Mutex);
        stage.Machine.Kmd.ShareSynchronizationObject(1, mutex, 2);
        stage.Wait(first, [mutex], waitAll: true);
        Assert.That(stage.RunUntilIdle(), Is.True);
        Assert.That(stage.Query(mutex).OwnerContextId, Is.EqualTo(stage.IdOf(first)));

        // When process 2 waits for it and then copies slot 0 to slot 1 — queued before process 1 writes slot 0 and releases.
        stage.Wait(second, [mutex], waitAll: true);
        stage.Copy(second, fromSlot: 0, toSlot: 1);
        stage.Write(first, slot: 0, 0xC0FFEE);
        stage.Signal(first, mutex);
        Assert.That(stage.RunUntilIdle(), Is.True);

        // Then process 2's copy ran only after process 1's write (without the wait it would have copied a zero), and
        // the mutex passed to process 2.
        Assert.That(stage.Read(1), Is.EqualTo(0xC0FFEEu));
        Assert.That(stage.Query(mutex).OwnerContextId, Is.EqualTo(stage.IdOf(second)));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void AMutexSharedAcrossProcesses_PassesBetweenAKernelPathContextAndARunListContext(bool kernelPathFirst)
    {
        // Given the advanced model: process 1's context on compute uses direct switching, process 2's on render runs on
        // the run lists; process 1 creates a mutex and shares it with process 2, and shares a pinned surface with it.
        using var stage = (AdvancedStage)SyncStage.For(SchedulingModel.Advanced);
        var m = stage.Machine;
        var kernel = m.CreateContext(1, 0, EngineKind.Compute);
        var runList = stage.NewContext(2);
        uint mutex = m.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        m.Kmd.ShareSynchronizationObject(1, mutex, 2);
        const int Bytes = 1 << 20;
        var surface = m.Kmd.Allocate(1, Bytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        lock (m.Scheduler.KernelLock) m.VidMm.Memory.GetSpan(m.VidMm.PhysicalAddressOf(surface, 0), Bytes).Clear();
        var shared = m.RunListScheduler.MapPinnedAllocation(stage.Process(2), surface, Bytes);
        int kernelId = kernel.Id, runListId = (int)((VaContext)runList).Id;

        // When the first holder takes the mutex and fills the surface (a long critical section) before releasing it, and
        // the second waits for the mutex, then overwrites the surface's first dword.
        void KernelCriticalSection(uint pattern)
        {
            m.Kmd.WaitOnSingleObject(1, kernel, mutex);
            SubmitKernel(m, kernel, cb => cb.Fill(surface, 0, pattern, Bytes));
            m.Kmd.SignalObject(1, kernel, mutex);
        }
        void RunListCriticalSection(uint pattern)
        {
            m.RunListScheduler.WaitOnSingleObject((VaContext)runList, mutex);
            stage.Submit((VaContext)runList, (ref PacketWriter w) => w.Fill(shared.Va, pattern, Bytes));
            m.RunListScheduler.SignalObject((VaContext)runList, mutex);
        }
        if (kernelPathFirst) KernelCriticalSection(0x1111_1111);
        else RunListCriticalSection(0x1111_1111);
        int first = kernelPathFirst ? kernelId : runListId, second = kernelPathFirst ? runListId : kernelId;
        Assert.That(m.RunUntil(() => m.Scheduler.QuerySynchronizationObject(mutex).OwnerContextId == first, 100_000_000), Is.True);
        if (kernelPathFirst)
        {
            m.RunListScheduler.WaitOnSingleObject((VaContext)runList, mutex);
            stage.Submit((VaContext)runList, (ref PacketWriter w) => w.WriteData(shared.Va, 0x2222_2222));
        }
        else
        {
            m.Kmd.WaitOnSingleObject(1, kernel, mutex);
            SubmitKernel(m, kernel, cb => cb.Fill(surface, 0, 0x2222_2222, 4));
        }
        Assert.That(m.RunUntil(() => m.Scheduler.QuerySynchronizationObject(mutex).Waiters == 1, 100_000_000), Is.True, "the second waits while the first holds it");
        Assert.That(m.RunUntilIdle(), Is.True);

        // Then the mutex passed to the second holder (first waiter, §10.3) when the first one's release was reached, and
        // the second's write landed after the first's whole fill.
        var state = m.Scheduler.QuerySynchronizationObject(mutex);
        Assert.That((state.OwnerContextId, state.Waiters, state.PendingOperations), Is.EqualTo((second, 0, 0)));
        Assert.That(m.RunListScheduler.QuerySynchronizationObject(mutex), Is.EqualTo(state), "one object, whichever back end is asked");
        var words = MemoryMarshal.Cast<byte, uint>(ModelWorkload.Read(m, surface, Bytes)).ToArray();
        Assert.That(words[0], Is.EqualTo(0x2222_2222u));
        Assert.That(words.Skip(1), Is.All.EqualTo(0x1111_1111u));
        var release = stage.Log.Single(r => r.ContextId == first && r.Kind == SchedulerEventKind.SignalSync);
        Assert.That(release.Woken, Is.EqualTo(new[] { second }));
    }

    [Test]
    public void TwoSemaphores_PingPongBetweenARunListContextAndAKernelPathContext_InThreadedMode_OrderEveryRound()
    {
        // Given a threaded advanced-model machine: process 2's run-list context R fills a shared surface each round,
        // process 1's kernel-path context K (compute) copies it away; "to R" (1 of 1) and "to K" (0 of 1) alternate them.
        // Each back end's interrupts are handled on its own thread here, so a signal of one readies a waiter of the other
        // from outside the waiter's own pass.
        const int Rounds = 6, Bytes = 64 << 10;
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Advanced, Mode = MachineRunMode.Threaded, Device = ModelWorkload.Device() });
        var rl = m.RunListScheduler;
        var kernel = m.CreateContext(1, 0, EngineKind.Compute);
        var vp = rl.CreateProcess(2, PageTableFormat.MultiLevel);
        var runList = rl.CreateContext(vp);
        uint toR = m.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 1, 1);
        uint toK = m.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 0, 1);
        m.Kmd.ShareSynchronizationObject(1, toR, 2);
        m.Kmd.ShareSynchronizationObject(1, toK, 2);
        var surface = m.Kmd.Allocate(1, Bytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var copies = m.Kmd.Allocate(1, Rounds * Bytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var shared = rl.MapPinnedAllocation(vp, surface, Bytes);
        m.Start();

        // When every round is queued up front from this thread.
        for (int i = 0; i < Rounds; i++)
        {
            uint pattern = 0x0101_0101u * (uint)(i + 1);
            rl.WaitOnSingleObject(runList, toR);
            var buf = vp.CreateDmaBuffer(64);
            var w = buf.Writer();
            w.Fill(shared.Va, pattern, Bytes);
            Assert.That(rl.Submit(runList, buf, w.Written, [], TimeSpan.FromSeconds(30), out _), Is.True);
            rl.SignalObject(runList, toK);
            m.Kmd.WaitOnSingleObject(1, kernel, toK);
            int round = i;
            SubmitKernel(m, kernel, cb => cb.Copy(surface, 0, copies, (ulong)round * Bytes, Bytes));
            m.Kmd.SignalObject(1, kernel, toR);
        }

        // Then (bounded: the wait is a failure guard) every copy holds exactly its round's fill.
        Assert.That(m.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True);
        Assert.That(m.RunListScheduler.IsIdle, Is.True);
        var words = MemoryMarshal.Cast<byte, uint>(ModelWorkload.Read(m, copies, Rounds * Bytes));
        for (int i = 0; i < Rounds; i++)
            Assert.That(words.Slice(i * Bytes / 4, Bytes / 4).ToArray(), Is.All.EqualTo(0x0101_0101u * (uint)(i + 1)), $"round {i}");
        Assert.That((m.Scheduler.QuerySynchronizationObject(toR).Count, m.Scheduler.QuerySynchronizationObject(toK).Count), Is.EqualTo((1, 0)));
    }

    // Contexts X, W, Y of process 1; a mutex X has taken (its wait was reached) and an empty semaphore (0 of 1).
    private static (object X, object W, object Y, uint Mutex, uint Semaphore) MutexHeldAndEmptySemaphore(SyncStage stage)
    {
        var x = stage.NewContext(1);
        var w = stage.NewContext(1);
        var y = stage.NewContext(1);
        uint mutex = stage.Create(1, SyncObjectKind.Mutex);
        uint sem = stage.Create(1, SyncObjectKind.Semaphore, 0, 1);
        stage.Wait(x, [mutex], waitAll: true);
        Assert.That(stage.RunUntilIdle(), Is.True);
        Assert.That(stage.Query(mutex).OwnerContextId, Is.EqualTo(stage.IdOf(x)));
        return (x, w, y, mutex, sem);
    }

    private static void SubmitKernel(Machine m, VidSchContext ctx, Action<CommandBufferBuilder> build)
    {
        var o = m.Scheduler.Options;
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(ctx.ProcessId, ctx), o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
        build(umd);
        umd.Flush();
    }

    /// <summary>
    /// The same synchronization script on either back end: kernel-path contexts (basic model, render engine) or run-list
    /// contexts (advanced model), all writing into one 4 KiB log every process may use; the event-history log of every
    /// scheduler of the machine.
    /// </summary>
    private abstract class SyncStage : IDisposable
    {
        protected SyncStage(SchedulingModel model, ulong interruptLatencyCycles)
        {
            Machine = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device(), InterruptLatencyCycles = interruptLatencyCycles });
            Machine.SetEventHistoryLog(Log); // every back end: the kernel path, and the run lists in the advanced model
        }

        public static SyncStage For(SchedulingModel model, ulong interruptLatencyCycles = 2_000) =>
            model == SchedulingModel.Advanced ? new AdvancedStage(interruptLatencyCycles) : new KernelPathStage(model, interruptLatencyCycles);

        public Machine Machine { get; }
        public List<SchedulerEventRecord> Log { get; } = new();
        public abstract object NewContext(uint processId);
        public abstract int IdOf(object context);
        public uint Create(uint processId, SyncObjectKind kind, int initial = 0, int max = 1) => Machine.Kmd.CreateSynchronizationObject(processId, kind, initial, max);
        public abstract void Wait(object context, uint[] handles, bool waitAll);
        public abstract void Signal(object context, uint handle);
        public abstract void Write(object context, int slot, uint value);
        public abstract void Copy(object context, int fromSlot, int toSlot);
        public abstract ContextSyncInfo Info(object context);
        public abstract ulong FenceOfLastWrite(object context);
        /// <summary>Fills the whole log with <paramref name="pattern"/>, signalling <paramref name="done"/>; returns the buffer's trailing fence.</summary>
        public abstract ulong FillLogNotifying(object context, uint pattern, UserModeCompletionEvent done);
        public abstract ulong FenceInMemory(object context);
        public SyncObjectState Query(uint handle) => Machine.Scheduler.QuerySynchronizationObject(handle);
        public bool RunUntilIdle() => Machine.RunUntilIdle();
        public uint Read(int slot) => MemoryMarshal.Read<uint>(ModelWorkload.Read(Machine, LogAllocation, 4096).AsSpan(slot * 4));
        protected abstract AllocationHandle LogAllocation { get; }
        public void Dispose() => Machine.Dispose();
    }

    // The kernel path's contexts: the basic model's, and in the hardware model the contexts that synchronize with objects
    // (its user queues synchronize with fences and WAIT/SIGNAL packets only, docs/models.md).
    private sealed class KernelPathStage : SyncStage
    {
        private readonly AllocationHandle _log;

        public KernelPathStage(SchedulingModel model, ulong interruptLatencyCycles) : base(model, interruptLatencyCycles)
        {
            _log = Machine.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
            lock (Machine.Scheduler.KernelLock) Machine.VidMm.Memory.GetSpan(Machine.VidMm.PhysicalAddressOf(_log, 0), 4096).Clear();
        }

        protected override AllocationHandle LogAllocation => _log;

        public override object NewContext(uint processId)
        {
            Machine.Kmd.Process(processId).Own(_log, 4096);
            return Machine.CreateContext(processId, 0, EngineKind.Render);
        }

        public override int IdOf(object context) => ((VidSchContext)context).Id;

        public override void Wait(object context, uint[] handles, bool waitAll)
        {
            var c = (VidSchContext)context;
            Machine.Kmd.WaitOnMultipleObjects(c.ProcessId, c, handles, waitAll);
        }

        public override void Signal(object context, uint handle)
        {
            var c = (VidSchContext)context;
            Machine.Kmd.SignalObject(c.ProcessId, c, handle);
        }

        public override void Write(object context, int slot, uint value) =>
            Submit((VidSchContext)context, cb => cb.Fill(_log, (ulong)slot * 4, value, 4));

        public override void Copy(object context, int fromSlot, int toSlot) =>
            Submit((VidSchContext)context, cb => cb.Copy(_log, (ulong)fromSlot * 4, _log, (ulong)toSlot * 4, 4));

        public override ContextSyncInfo Info(object context) => Machine.Scheduler.QueryContextSync((VidSchContext)context);

        // The buffer's trailing fence is the value of its DMA-buffer-end event.
        public override ulong FenceOfLastWrite(object context) =>
            Log.Last(r => r.ContextId == IdOf(context) && r.Kind == SchedulerEventKind.DmaBufferEnd).Fence;

        private void Submit(VidSchContext c, Action<CommandBufferBuilder> build) => SubmitKernel(Machine, c, build);

        public override ulong FillLogNotifying(object context, uint pattern, UserModeCompletionEvent done)
        {
            var c = (VidSchContext)context;
            var sink = new Scheduling.CapturingSink();
            var b = new CommandBufferBuilder(sink, capacityDwords: 256, capacityReferences: 16);
            b.Fill(_log, 0, pattern, 4096);
            b.Flush();
            Machine.Kmd.Submit(c.ProcessId, c, sink.Commands, sink.References, done);
            Assert.That(Machine.RunUntil(() => c.FenceIssued > 0), Is.True);
            return c.FenceIssued; // one chunk: its trailing fence
        }

        public override ulong FenceInMemory(object context) =>
            BitConverter.ToUInt64(Machine.VidMm.Memory.GetSpan(((VidSchContext)context).Fence, 8));
    }

    private sealed class AdvancedStage : SyncStage
    {
        private readonly AllocationHandle _log;
        private readonly Dictionary<uint, VaProcess> _processes = new();
        private readonly Dictionary<VaContext, ulong> _lastWrite = new();

        public AdvancedStage(ulong interruptLatencyCycles) : base(SchedulingModel.Advanced, interruptLatencyCycles)
        {
            _log = Machine.Kmd.Allocate(0, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
            lock (Machine.Scheduler.KernelLock) Machine.VidMm.Memory.GetSpan(Machine.VidMm.PhysicalAddressOf(_log, 0), 4096).Clear();
        }

        protected override AllocationHandle LogAllocation => _log;

        public VaProcess Process(uint processId)
        {
            if (!_processes.TryGetValue(processId, out var p))
                _processes.Add(processId, p = Machine.RunListScheduler.CreateProcess(processId, PageTableFormat.MultiLevel));
            return p;
        }

        public override object NewContext(uint processId)
        {
            var p = Process(processId);
            if (!p.Owns(_log)) Machine.RunListScheduler.MapPinnedAllocation(p, _log, 4096);
            return Machine.RunListScheduler.CreateContext(p);
        }

        public override int IdOf(object context) => (int)((VaContext)context).Id;

        public override void Wait(object context, uint[] handles, bool waitAll) =>
            Machine.RunListScheduler.WaitOnMultipleObjects((VaContext)context, handles, waitAll);

        public override void Signal(object context, uint handle) => Machine.RunListScheduler.SignalObject((VaContext)context, handle);

        public override void Write(object context, int slot, uint value)
        {
            ulong va = LogVa((VaContext)context);
            _lastWrite[(VaContext)context] = Submit((VaContext)context, (ref PacketWriter w) => w.WriteData(va + (ulong)slot * 4, value)).Fence;
        }

        public override void Copy(object context, int fromSlot, int toSlot)
        {
            ulong va = LogVa((VaContext)context);
            Submit((VaContext)context, (ref PacketWriter w) => w.Copy(va + (ulong)toSlot * 4, va + (ulong)fromSlot * 4, 4));
        }

        public override ContextSyncInfo Info(object context) => Machine.RunListScheduler.QueryContextSync((VaContext)context);

        public override ulong FenceOfLastWrite(object context) => _lastWrite[(VaContext)context];

        public override ulong FillLogNotifying(object context, uint pattern, UserModeCompletionEvent done)
        {
            var c = (VaContext)context;
            var buf = c.Process.CreateDmaBuffer(64);
            var w = buf.Writer();
            w.Fill(LogVa(c), pattern, 4096);
            Assert.That(Machine.RunListScheduler.TrySubmit(c, buf, w.Written, [], done, out var ticket), Is.True);
            return ticket.Fence;
        }

        public override ulong FenceInMemory(object context) => ((VaContext)context).CompletedFence;

        public VaTicket Submit(VaContext ctx, Advanced.AdvancedRig.Emit emit)
        {
            var buf = ctx.Process.CreateDmaBuffer(1024);
            var w = buf.Writer();
            emit(ref w);
            return Machine.RunListScheduler.Submit(ctx, buf, w.Written);
        }

        private ulong LogVa(VaContext ctx)
        {
            foreach (var a in ctx.Process.Allocations)
                if (a.Handle == _log) return a.Va;
            throw new InvalidOperationException("log not mapped");
        }
    }
}
