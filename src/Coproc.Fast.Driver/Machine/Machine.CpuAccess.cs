using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver;

// CPU access to allocations the way a driver's Lock gives it (seed 002: device memory mapped "at any time"; seed 001
// §3.6: paging buffers move allocations on the device). Planning a move and executing it are two moments: VidMm records
// an allocation at its new place when the residency manager commits the move, and the paging buffer that copies the
// bytes runs on the device later. A CPU access in between read stale bytes, and a CPU write was overwritten when the
// paging COPY executed (a WAIT satisfied by such a write then spun for ever).
// Invariant: MapToCpu returns only once (1) the allocation is pinned where it is (nothing moves it while mapped) and
// (2) every paging transfer recorded before the pin has executed on the device — so the bytes at the mapped place are
// the allocation's, and stay its until the last unmap.
public sealed partial class Machine
{
    /// <summary>
    /// Maps [<paramref name="offset"/>, +<paramref name="bytes"/>) of <paramref name="allocation"/> into
    /// <paramref name="space"/> (<see cref="VideoMemoryManager.MapToCpu"/>: a managed allocation is pinned where it is
    /// until the last unmap) and waits until every paging transfer recorded before the pin — on the machine's one paging
    /// channel, <see cref="Paging"/> — has executed on the device, so the CPU
    /// sees and changes the allocation's own bytes. Deterministic mode runs the machine until then; threaded mode
    /// spins (the machine's threads execute the paging). Any thread; takes the kernel lock to map.
    /// </summary>
    /// <returns>The CPU address of the first mapped byte.</returns>
    /// <exception cref="VidMmException">Bad handle or range, or no CPU VA or aperture space; nothing changes.</exception>
    /// <exception cref="ArgumentException"><paramref name="space"/> is another machine's; nothing changes.</exception>
    /// <exception cref="InvalidOperationException">Called under the kernel lock (from an observer or scheduler callback)
    /// or on one of the machine's threads.</exception>
    /// <exception cref="TimeoutException">The paging did not complete within 10 G cycles (deterministic) or 30 s
    /// (threaded: a failure guard); the mapping is removed again.</exception>
    public ulong MapToCpu(CpuAddressSpace space, AllocationHandle allocation, ulong offset, ulong bytes, CpuAddressHalf half,
        bool writable = true)
    {
        ThrowIfDisposed();
        // It waits for the device: from under the kernel lock (an observer, a scheduler callback) or from one of the
        // machine's own threads, the work it waits for could not run (or a nested run would re-enter a half-done pass).
        if (Monitor.IsEntered(Scheduler.KernelLock) || IsMachineThread())
            throw new InvalidOperationException("MapToCpu waits for paging on the device: call it from the host's own thread, not under the kernel lock or on a machine thread");
        ulong va, target;
        lock (Scheduler.KernelLock)
        {
            va = VidMm.MapToCpu(space, allocation, offset, bytes, half, writable);
            target = Paging.LastSubmitted;
        }
        if (!WaitForPaging(target))
        {
            lock (Scheduler.KernelLock) VidMm.UnmapFromCpu(space, va);
            throw new TimeoutException($"the paging recorded before mapping {allocation} did not complete");
        }
        return va;
    }

    /// <summary>Drops a mapping <see cref="MapToCpu"/> returned (<see cref="VideoMemoryManager.UnmapFromCpu"/>); any thread.</summary>
    /// <exception cref="VidMmException"><see cref="VidMmError.NotMapped"/> when no map request returned <paramref name="va"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="space"/> is another machine's; nothing changes.</exception>
    public void UnmapFromCpu(CpuAddressSpace space, ulong va)
    {
        ThrowIfDisposed();
        lock (Scheduler.KernelLock) VidMm.UnmapFromCpu(space, va);
    }

    // True once the paging queue's fence has reached `target` — read from the fence in memory, which the device writes:
    // the device's own word, not the driver's view of it. One channel: every paging buffer recorded up to `target` ran.
    private bool PagingReached(ulong target) => (long)(Paging.Completed - target) >= 0;

    // Ordering, not refusal (VidMm/Residency/ResidencyManager.InTransit.cs): a kernel structure whose only room in local
    // memory is memory in transit — vacated by a recorded eviction the device has not executed yet — is created once that
    // paging has run. The wait needs the machine to progress, so it is taken only outside the kernel lock and off the
    // machine's threads (as MapToCpu); there the typed OutOfLocalMemory stands.
    private T AfterPagingWhenInTransit<T, TArg>(Func<TArg, T> create, TArg arg)
    {
        // Decided before the call: an exception filter runs before the callee's lock is released.
        bool mayWait = MayWaitForPaging();
        try { return create(arg); }
        catch (VidMmException e) when (mayWait && e.Error == VidMmError.OutOfLocalMemory)
        {
            if (!WaitForInTransit()) throw;
            return create(arg);
        }
    }

    // The machine's InTransitWait, handed to the kernel services that allocate on the caller's thread (Kmd.Allocate,
    // UserQueueRegistrar.Open, RunListScheduler.CreateContext): the same wait as AfterPagingWhenInTransit.
    private InTransitWait? _inTransitWait;

    internal InTransitWait InTransitWaiter => LazyInitializer.EnsureInitialized(ref _inTransitWait, () => new InTransitWait(MayWaitForPaging, WaitForInTransit));

    // Waiting runs the machine (deterministic mode): never from inside one of its steps — under the kernel lock, on a
    // machine thread, during a modeled gate charge, or while an interrupt batch is being delivered (an interrupt tap) —
    // where a nested run would reuse the outer one's state; the typed refusal stands there.
    private bool MayWaitForPaging() => !Monitor.IsEntered(Scheduler.KernelLock) && !IsMachineThread() && !_inGateCharge
        && (Volatile.Read(ref _deliverySequence) & 1) == 0;

    // Waits until every paging operation recorded so far has executed and returns what it vacated to VidMm; false when
    // nothing was in transit (a retry would fail alike) or the failure guard expired.
    private bool WaitForInTransit()
    {
        if (Residency is not ResidencyManager rm) return false;
        ulong target;
        lock (Scheduler.KernelLock)
        {
            if (rm.InTransitBytes == 0) return false;
            target = Paging.LastSubmitted;
        }
        if (!WaitForPaging(target)) return false;
        lock (Scheduler.KernelLock) rm.RetireInTransit();
        return true;
    }

    // Waits until PagingReached(target); false on the failure guard's timeout.
    internal bool WaitForPaging(ulong target)
    {
        if (PagingReached(target)) return true;
        if (_posted is null) return RunUntil(() => PagingReached(target));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var spin = new SpinWait();
        while (!PagingReached(target))
        {
            if (ThreadFailure is { } f) throw new InvalidOperationException("a machine thread failed", f);
            if (sw.Elapsed > TimeSpan.FromSeconds(30)) return false;
            spin.SpinOnce();
        }
        return true;
    }
}
