using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>Scheduling state of an advanced-model context (seed 001 §19.3 "Context (advanced, surface faulting)").</summary>
public enum VaContextState
{
    /// <summary>Runnable whenever it has work: every context is assumed ready at any time (seed 001 §5.6 Fig. 15 step 1).</summary>
    Ready = 0,
    /// <summary>Page-faulted: on the paging list (or waiting for its paging buffer); the device skips it.</summary>
    Faulted = 1,
    /// <summary>Stopped for good by a protection fault, an invalid command or an access to an unbacked VA; its work failed.</summary>
    Error = 2,
}

/// <summary>One buffer a context submitted: its scheduler-fence value and the resources it listed.</summary>
internal readonly record struct VaSubmission(ulong Fence, ResourceReference[] Resources, uint CopyStart, uint CopyDwords,
    KernelBuffer? Kernel = null);

/// <summary>An option-3 privileged DMA buffer the kernel built for one submission (freed once it retired).</summary>
internal sealed record KernelBuffer(AllocationHandle Handle, ulong Va);

/// <summary>
/// A context of the advanced model (seed 001 §4.1, §5.6 Fig. 16): a save area naming a private ring and the process's
/// address space, a scheduler fence in kernel memory, and — for enforcement options 1 and 3 — kernel-owned buffers
/// mapped into the process (read-only, the option 3 ones privileged). Ring insertion happens under this context's own
/// lock, so a full ring blocks only this context's submitters (behaviour 18).
/// </summary>
public sealed partial class VaContext : GpuContext
{
    internal const int PrivilegedSlotDwords = 8;
    internal readonly object RingLock = new();
    internal readonly Queue<VaSubmission> Outstanding = new();
    private readonly DeviceMemory _memory;
    private ulong _nextFence;

    internal VaContext(VaProcess process, uint id, int priority, KernelContext hw, DeviceMemory memory,
        PhysicalAddress fencePa, PhysicalAddress privilegedPa, ulong privilegedVa, int privilegedSlots,
        PhysicalAddress copyPa, ulong copyVa, uint copyDwords, Coproc.Fast.Device.Engines.EngineKind engine)
        : base(checked((int)id), process.Id, priority, engine, ContextPath.RunList)
    {
        Process = process;
        Hw = hw;
        _memory = memory;
        FencePa = fencePa;
        PrivilegedPa = privilegedPa;
        PrivilegedVa = privilegedVa;
        PrivilegedSlots = privilegedSlots;
        CopyPa = copyPa;
        CopyVa = copyVa;
        CopyCapacityDwords = copyDwords;
    }

    /// <summary>The owning process.</summary>
    public VaProcess Process { get; }

    /// <summary>Save area, ring descriptor and ring (pinned, never mapped into any process VA, seed 001 §7.4).</summary>
    public KernelContext Hw { get; }

    /// <summary>Save-area PA as the run list names it.</summary>
    public ulong SaveArea => Hw.SaveArea.Encoded;

    /// <summary>Scheduling state.</summary>
    public VaContextState State { get; internal set; }

    /// <summary>True once it stopped for good (<see cref="VaContextState.Error"/>).</summary>
    public override bool IsStopped => State == VaContextState.Error;

    /// <summary>PA of the scheduler fence (8 bytes, kernel-only) the ring's privileged FENCE writes after each buffer.</summary>
    public PhysicalAddress FencePa { get; }

    /// <summary>Last fence value the device wrote: every buffer up to it retired.</summary>
    public ulong CompletedFence => Volatile.Read(ref _memory.Region(FencePa.Location).Ref<ulong>(FencePa.Offset));

    /// <summary>Last fence value handed out.</summary>
    public ulong SubmittedFence { get { lock (RingLock) return _nextFence; } }

    /// <summary>
    /// Times the engine left it for another while it still had work (a new run list, a request, a user queue that
    /// outranked it, or a WAIT it stopped on; not a fault) — the engine's own count in its save area (native-layout.md
    /// §11 +92), as the run-list back end saw it at each switch away.
    /// </summary>
    public long Preemptions { get; internal set; }

    // The save area's count (a wrapping u32) already turned into Preemptions.
    internal uint PreemptionsSeen;

    /// <summary>Page faults this context took.</summary>
    public int PageFaults { get; internal set; }

    /// <summary>Bytes VidMm's context moved (paged in or evicted) to serve this context's prefetches and faults.</summary>
    public long BytesPaged { get; internal set; }

    /// <summary>Why the context stopped for good (<see cref="VaContextState.Error"/>), else null.</summary>
    public string? ErrorReason { get; internal set; }

    /// <summary>Fault address reported with the error (0 when none).</summary>
    public ulong ErrorAddress { get; internal set; }

    /// <summary>Times a submitter found the ring full and had to wait (or was refused).</summary>
    public long RingFullWaits { get; internal set; }

    /// <summary>True when buffer <paramref name="fence"/> retired.</summary>
    public bool IsComplete(ulong fence) => CompletedFence >= fence;

    /// <summary>True when buffer <paramref name="fence"/> will never run (the context is in error and it had not retired).</summary>
    public bool HasFailed(ulong fence) => State == VaContextState.Error && !IsComplete(fence);

    internal PhysicalAddress PrivilegedPa { get; }
    internal ulong PrivilegedVa { get; }
    internal int PrivilegedSlots { get; }
    internal PhysicalAddress CopyPa { get; }
    internal ulong CopyVa { get; }
    internal uint CopyCapacityDwords { get; }
    internal uint CopyHead; // next free dword of the copy arena (free-running)
    internal uint CopyTail; // oldest dword still used by an outstanding buffer (free-running)
    // When its last turn on the engine ended (RunListScheduler's turn serial; 0 = never had one): equals are listed
    // least recently served first (RunListScheduler.RunList.cs, fair share among equals).
    internal ulong LastTurnEnded;
    // Its last turn ended on an unsatisfied WAIT (SwitchReason.Yielded) and it has not run since. Set and cleared from
    // the switch records (RunListScheduler.Interrupts.cs); it says nothing about the WAIT now — the fence may have been
    // written since (by another context, the CPU or VidMm's paging), which no switch record tells: ask WaitsForFence.
    internal bool LeftOnWait;

    // Invariant (docs/scheduling-policy.md "Auditor"): true exactly while its last turn ended on a WAIT that is still
    // unsatisfied in memory now — it waits for a fence, not for a turn, and the auditor does not count that time as
    // starvation. The WAIT is evaluated from the saved context (SavedWaitQuery: the packet at the saved position and the
    // value it names; anything unreadable or malformed counts as still unsatisfied), only for a context left on a WAIT.
    internal bool WaitsForFence() => LeftOnWait && !SavedWaitQuery.IsSatisfied(_memory, this);

    // Timeout detection (RunListScheduler.OnTimer): the fence seen at the last tick and the active cycles since it moved.
    internal ulong ProgressFence;
    internal ulong ActiveWithoutProgress;
    internal readonly List<AllocationHandle> FaultSet = new();
    internal readonly List<KernelBuffer> RetiredKernelBuffers = new(); // freed by the scheduler under the kernel lock

    /// <summary>True while buffers are outstanding (submitted, not retired).</summary>
    internal bool HasWork
    {
        get { lock (RingLock) return Outstanding.Count != 0; }
    }

    internal ulong NextFenceValue() => ++_nextFence;

    // Retires outstanding buffers whose fence was reached; frees their copy-arena space (in order). Caller holds no lock.
    internal int Retire()
    {
        int n = 0;
        lock (RingLock)
        {
            ulong done = CompletedFence;
            while (Outstanding.TryPeek(out var s) && s.Fence <= done)
            {
                Outstanding.Dequeue();
                if (s.CopyDwords != 0) CopyTail = s.CopyStart + s.CopyDwords;
                if (s.Kernel is not null) RetiredKernelBuffers.Add(s.Kernel);
                n++;
            }
            if (n != 0)
            {
                FaultSet.Clear(); // a buffer retired: the faulting element made progress
                Monitor.PulseAll(RingLock); // behaviour 18: a blocked submitter of this context re-checks
            }
        }
        return n;
    }

    // Wakes this context's blocked submitters (ring space may have been freed by the device).
    internal void NotifyRingSpace()
    {
        lock (RingLock) Monitor.PulseAll(RingLock);
    }

    /// <summary>Process-relative description for logs.</summary>
    public override string ToString() => $"ctx 0x{Id:X} (pid {Process.Id}, prio {Priority}, {State})";
}
