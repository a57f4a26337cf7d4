using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Microsoft.Extensions.ObjectPool;

namespace Coproc.Fast.Driver;

// The submission path seam (docs/models.md "One submission call"): one call, three paths — the kernel path's copy-in,
// validation, patching and splitting; the run lists' user DMA buffer with VAs (its resources prefetched, the ring
// waiting on the paging fence); a user queue's packets with VAs, published and rung from ring 3.
public sealed partial class Machine
{
    /// <summary>
    /// Submits the work <paramref name="record"/> records to <paramref name="context"/> through its model's submission path
    /// (docs/models.md "One submission call"), so the same workload code runs in every model:
    /// <list type="bullet">
    /// <item>a kernel-path context (<see cref="VidSchContext"/>): a command buffer from the UMD's builder, through the ring-0
    /// gate to the KMD, which copies it in, validates it, patches its handles and splits it (seed 001 §3);</item>
    /// <item>a run-list context (<see cref="VaContext"/> of a <see cref="Process"/>): one user DMA buffer with the process's
    /// GPU VAs, listing every allocation it names as a resource (seed 001 §5.2);</item>
    /// <item>a user queue (<see cref="UserQueueContext"/> in a <see cref="Process"/>'s GPU space): the packets with its VAs,
    /// published and rung once through its doorbell (seed 003).</item>
    /// </list>
    /// On the VA paths every allocation named is mapped into the process's GPU space on first use and stays mapped.
    /// A recording is accepted or refused whole (docs/models.md "One submission call"). In steady state a call allocates
    /// nothing but what the context's path itself allocates (the run lists' <see cref="VaTicket"/> per buffer): the
    /// recorders, the kernel path's command buffer and a user queue's writer are reused (a pool of workspaces, so several
    /// threads may submit at once); <see cref="TrySubmit{TState}(GpuContext, TState, Action{WorkRecorder, TState})"/> also
    /// spares the caller a closure.
    /// </summary>
    /// <returns>False when there is no room now (the context's 16 run-list buffers in flight, a full ring or queue, the
    /// process's outstanding-submission quota): nothing was submitted.</returns>
    /// <exception cref="ArgumentException">The context is not this machine's (or was unregistered), (VA paths) not in a space of
    /// <see cref="Process"/>, a run-list recording is longer than 16,384 dwords, or a packet is too large for its path.</exception>
    /// <exception cref="AllocationNotSharedException">(VA paths) The process neither owns nor shares an allocation it named now.</exception>
    /// <exception cref="CommandBufferRejectedException">(Kernel path) The KMD rejected the buffer, or the recording needs more
    /// than one command buffer (<see cref="CommandBufferRejection.TooLarge"/>); (VA paths) an operand past the end of its
    /// allocation (<see cref="CommandBufferRejection.OutOfBounds"/>).</exception>
    public bool TrySubmit(GpuContext context, Action<WorkRecorder> record)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(record);
        return TrySubmit(context, record, static (r, recordIt) => recordIt(r));
    }

    /// <summary>
    /// <see cref="TrySubmit(GpuContext, Action{WorkRecorder})"/> with a state handed to <paramref name="record"/>, so a
    /// static lambda records the work and a submission loop allocates nothing (the pattern of <c>string.Create</c>).
    /// </summary>
    /// <typeparam name="TState">What <paramref name="record"/> needs (allocation handles, values).</typeparam>
    /// <param name="context">The context to submit to.</param>
    /// <param name="state">Passed to <paramref name="record"/>.</param>
    /// <param name="record">Records the work; called once, before anything is submitted.</param>
    /// <returns>As <see cref="TrySubmit(GpuContext, Action{WorkRecorder})"/>.</returns>
    /// <exception cref="ArgumentException">As <see cref="TrySubmit(GpuContext, Action{WorkRecorder})"/>.</exception>
    /// <exception cref="AllocationNotSharedException">As <see cref="TrySubmit(GpuContext, Action{WorkRecorder})"/>.</exception>
    /// <exception cref="CommandBufferRejectedException">As <see cref="TrySubmit(GpuContext, Action{WorkRecorder})"/>.</exception>
    public bool TrySubmit<TState>(GpuContext context, TState state, Action<WorkRecorder, TState> record)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(record);
        var w = SubmissionWorkspaces.Get();
        try
        {
            switch (context)
            {
                case VidSchContext k:
                {
                    if (!OwnsKernelContext(k))
                        throw new ArgumentException($"context {context.Id} is not a live context of this machine", nameof(context));
                    // The recording must be one command buffer, which the KMD accepts or refuses whole: a buffer the builder
                    // flushed by itself (it was full) is counted, not submitted — a later buffer refused after an earlier one
                    // was queued would run part of a refused recording. The one buffer goes to the KMD from the builder's
                    // own storage; the KMD copies it in.
                    var o = SchedulerFor(k.Engine).Options;
                    var ks = w.Kernel(o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
                    record(ks.Recorder, state);
                    if (ks.Overflowed > 0)
                        throw new CommandBufferRejectedException(CommandBufferRejection.TooLarge, -1,
                            $"the recording needs {ks.Overflowed + 1} command buffers; one holds {o.DmaBufferDwords} dwords and {o.MaxReferences} resource-list entries");
                    if (ks.Builder.PendingCommands.IsEmpty) return true;
                    try { Kmd.Submit(k.ProcessId, k, ks.Builder.PendingCommands, ks.Builder.PendingResources); }
                    catch (CommandBufferRejectedException e) when (e.Reason == CommandBufferRejection.QuotaExceeded)
                    {
                        return false; // the process's outstanding submissions are at its quota: no room now, as on the other paths
                    }
                    return true;
                }
                case VaContext v:
                {
                    // v.Process is this machine's space of that process only if v is one of this machine's contexts.
                    var p = ProcessOf(v.ProcessId, nameof(context));
                    if (!ReferenceEquals(p.RunLists, v.Process))
                        throw new ArgumentException($"run-list context {v.Id} is not in Machine.Process({v.ProcessId})'s address space", nameof(context));
                    var r = w.Va(this, p);
                    record(r, state);
                    if (r.Written.IsEmpty) return true;
                    if (r.Written.Length > SubmissionBufferDwords)
                        throw new ArgumentException($"the recording is {r.Written.Length} dwords; a run-list submission holds {SubmissionBufferDwords}", nameof(record));
                    // One of the context's DMA buffers whose earlier submission has completed (or failed), or a new one while
                    // fewer than SubmissionBuffers exist; none free: no room now. Buffers are reused, never freed, so a
                    // workload that submits in a loop runs in bounded memory.
                    var slot = TakeSubmissionBuffer(v);
                    if (slot is null) return false;
                    try
                    {
                        r.Written.CopyTo(slot.Buffer.Dwords);
                        if (!_runLists!.Scheduler.TrySubmit(v, slot.Buffer, r.Written.Length, r.NamedSpan, out var ticket)) return false;
                        slot.Ticket = ticket;
                        return true;
                    }
                    finally
                    {
                        lock (Scheduler.KernelLock) slot.Taken = false;
                    }
                }
                case UserQueueContext q:
                {
                    // q.Space is this machine's space of that process only if q is one of this machine's queues.
                    if (q.IsUnregistered) throw new ArgumentException($"user queue {q.Id} was unregistered", nameof(context));
                    var p = ProcessOf(q.ProcessId, nameof(context));
                    if (!ReferenceEquals(q.Space, p.GpuSpace))
                        throw new ArgumentException($"user queue {q.Id} does not run in Machine.Process({q.ProcessId})'s address space", nameof(context));
                    var r = w.Va(this, p);
                    record(r, state);
                    if (r.Written.IsEmpty) return true;
                    // Under the doorbell block's lock, which Unregister holds while it frees the queue's descriptor and ring:
                    // a queue unregistered since the check above (its ring perhaps another process's memory by now) is
                    // refused, not written; and two callers never write the same ring slots. The queue's writer is the
                    // kernel's one for this path, brought to the published WritePtr first (another writer may have
                    // published since); packets that do not all fit are never published.
                    lock (q.DoorbellBlock)
                    {
                        if (q.IsUnregistered)
                            throw new ArgumentException($"user queue {q.Id} was unregistered", nameof(context));
                        var queue = q.SubmissionWriter(Device.Memory);
                        var packets = r.Written;
                        for (int off = 0; off < packets.Length;)
                        {
                            int len = new Device.Packets.PacketHeader(packets[off]).LengthDwords;
                            if (!queue.TryWrite(packets.Slice(off, len))) return false;
                            off += len;
                        }
                        queue.Flush();
                    }
                    return true;
                }
                default:
                    throw new ArgumentException($"context {context.Id} has no submission path", nameof(context));
            }
        }
        finally
        {
            w.End();
            SubmissionWorkspaces.Return(w);
        }
    }

    // A kernel-path context of this machine: one its engine's scheduler created (the paging context is not a submitter's).
    private bool OwnsKernelContext(VidSchContext k) =>
        (uint)k.Engine < (uint)_schedulers.Length && _schedulers[(int)k.Engine] is { } s && s.Owns(k);

    // What a TrySubmit call works in: the recorders and the kernel path's builder, reused from call to call. A pool, not one
    // per machine: TrySubmit may be called from several threads at once.
    // Scratch, not state: a save-state stores it as an empty slot (MachineStateGraph) and a restored machine makes its own.
    private ObjectPool<SubmissionWorkspace>? _submissionWorkspaces;

    private ObjectPool<SubmissionWorkspace> SubmissionWorkspaces =>
        LazyInitializer.EnsureInitialized(ref _submissionWorkspaces,
            static () => new DefaultObjectPool<SubmissionWorkspace>(new DefaultPooledObjectPolicy<SubmissionWorkspace>(), 2 * Environment.ProcessorCount));

    private sealed class SubmissionWorkspace
    {
        private readonly VaRecorder _va = new();
        private KernelSubmission? _kernel;

        public VaRecorder Va(Machine machine, MachineProcess process)
        {
            _va.Begin(machine, process);
            return _va;
        }

        // The builder for an engine's command-buffer limits (one per workspace; engines with other limits make a new one).
        public KernelSubmission Kernel(int dwords, int references, ushort maxResourceId)
        {
            if (_kernel is not { } k || k.Dwords != dwords || k.References != references || k.MaxResourceId != maxResourceId)
                _kernel = k = new KernelSubmission(dwords, references, maxResourceId);
            k.Begin();
            return k;
        }

        // Drops what the call left: a recording that threw leaves packets behind, and the VA recorder names the machine.
        public void End()
        {
            _va.End();
            _kernel?.End();
        }
    }

    // The kernel path's UMD builder over a sink that only counts the buffers it flushed by itself (it was full): a
    // recording is one command buffer, submitted from the builder's storage, or refused whole.
    private sealed class KernelSubmission : ICommandBufferSink
    {
        public KernelSubmission(int dwords, int references, ushort maxResourceId)
        {
            (Dwords, References, MaxResourceId) = (dwords, references, maxResourceId);
            Builder = new CommandBufferBuilder(this, dwords, references, maxResourceId);
            Recorder = new KernelPathRecorder(Builder);
        }

        public int Dwords { get; }
        public int References { get; }
        public ushort MaxResourceId { get; }
        public CommandBufferBuilder Builder { get; }
        public KernelPathRecorder Recorder { get; }
        public int Overflowed { get; private set; }

        public void Begin() => Reset(active: true);

        public void End() => Reset(active: false);

        private void Reset(bool active)
        {
            Builder.Discard();
            Overflowed = 0;
            Recorder.Active = active;
        }

        public void Submit(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources) => Overflowed++;
    }

    // Run-list submissions: each context's DMA buffers, reused once their submission is done (Machine.TrySubmit).
    private const int SubmissionBuffers = 16;
    private const int SubmissionBufferDwords = 16 * 1024;
    private readonly Dictionary<int, List<SubmissionBuffer>> _submissionBuffers = new();

    private sealed class SubmissionBuffer(UserDmaBuffer buffer)
    {
        public UserDmaBuffer Buffer { get; } = buffer;
        public VaTicket? Ticket { get; set; }
        public bool Taken { get; set; } // a caller is filling it (kernel lock)
    }

    // A buffer of v's no caller is filling and whose last submission completed or failed (the device no longer reads
    // it), taken for the caller; or a new one while fewer than SubmissionBuffers exist; otherwise null.
    private SubmissionBuffer? TakeSubmissionBuffer(VaContext v)
    {
        lock (Scheduler.KernelLock)
        {
            if (!_submissionBuffers.TryGetValue(v.Id, out var list)) _submissionBuffers.Add(v.Id, list = new List<SubmissionBuffer>());
            foreach (var s in list)
                if (!s.Taken && (s.Ticket is not { } t || t.IsComplete || t.HasFailed))
                {
                    s.Taken = true;
                    return s;
                }
            if (list.Count >= SubmissionBuffers) return null;
            var fresh = new SubmissionBuffer(v.Process.CreateDmaBuffer(SubmissionBufferDwords)) { Taken = true };
            list.Add(fresh);
            return fresh;
        }
    }

    // Kmd.AllocationDisowned: the process's record no longer names the allocation, so the mapping TrySubmit made for it
    // goes too (PTEs cleared, TLBs invalidated through MMIO; tests in Submission/SubmissionIsolationTests.cs).
    // Invariant: a process's GPU space maps, on its behalf, only allocations its KMD record names — a VA kept from an
    // earlier share would otherwise let its own packets (a user queue's, a run-list buffer's) reach memory it no longer may.
    private void ForgetSubmissionMapping(uint processId, AllocationHandle h)
    {
        lock (Scheduler.KernelLock)
        {
            if (!_processes.TryGetValue(processId, out var p) || !p.SubmissionVas.Remove(SubmissionKey(h), out ulong va)) return;
            if (p.RunLists is { } rl) _runLists!.Scheduler.UnmapProcessAllocation(rl, va);
            else p.GpuSpace.Unmap(va);
        }
    }

    private static ulong SubmissionKey(AllocationHandle h) => ((ulong)(uint)h.Index << 32) | h.Generation;

    private MachineProcess ProcessOf(uint processId, string parameter)
    {
        lock (Scheduler.KernelLock)
            if (_processes.TryGetValue(processId, out var p)) return p;
        throw new ArgumentException($"process {processId} has no Machine.Process address space", parameter);
    }

    // The process's VA of an allocation it owns or shares (the KMD's record, the one access record of every back end),
    // mapped writable into its GPU space on first use.
    internal (ulong Va, ulong Bytes) SubmissionVa(MachineProcess p, AllocationHandle h)
    {
        lock (Scheduler.KernelLock)
        {
            // Checked at every use, not only the first: the record may have stopped naming it since (a share taken back).
            if (!Kmd.Process(p.Id).TryGetSize(h, out ulong bytes)) throw new AllocationNotSharedException(p.Id, h);
            ulong key = SubmissionKey(h);
            if (p.SubmissionVas.TryGetValue(key, out ulong va)) return (va, bytes);
            // A handle the record still names but VidMm no longer holds (freed behind the record): refused like a handle
            // the process never had, as the kernel path refuses it.
            if (!VidMm.IsLive(h)) throw new AllocationNotSharedException(p.Id, h);
            if (p.RunLists is { } rl)
            {
                // Already in the process's space (its own surface, a mapping it made): that mapping is the process's, used
                // as it is and not recorded as ours.
                foreach (var a in rl.Allocations)
                    if (a.Handle == h) return (a.Va, bytes);
                // Mapped as the run lists map a shared allocation: a managed one is recorded as managed, so a fault on it
                // after an eviction pages it back in (RunListScheduler.Paging.cs).
                va = _runLists!.Scheduler.MapShared(rl, h, GpuMappingFlags.Writable).Va;
            }
            else va = p.GpuSpace.MapAllocation(h);
            p.SubmissionVas.Add(key, va);
            return (va, bytes);
        }
    }
}
