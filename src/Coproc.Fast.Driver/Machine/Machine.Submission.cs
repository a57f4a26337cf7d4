using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

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
    /// A convenience for workloads and tests: it allocates per call; the allocation-free paths are the kinds' own
    /// (<see cref="Umd.UserQueue"/>, <see cref="RunListScheduler.TrySubmit(VaContext, UserDmaBuffer, int, ReadOnlySpan{AllocationHandle}, out VaTicket)"/>).
    /// </summary>
    /// <returns>False when the context's ring has no room now (run lists, user queues): nothing was submitted.</returns>
    /// <exception cref="ArgumentException">The context is not this machine's, or (VA paths) not in a space of <see cref="Process"/>.</exception>
    /// <exception cref="AllocationNotSharedException">(VA paths) The process neither owns nor shares an allocation it named.</exception>
    /// <exception cref="CommandBufferRejectedException">(Kernel path) The KMD rejected the buffer.</exception>
    public bool TrySubmit(GpuContext context, Action<WorkRecorder> record)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(record);
        if (!TryGetContext(context.Id, out var mine) || !ReferenceEquals(mine, context))
            throw new ArgumentException($"context {context.Id} is not a live context of this machine", nameof(context));
        switch (context)
        {
            case VidSchContext k:
            {
                var o = SchedulerFor(k.Engine).Options;
                var umd = new CommandBufferBuilder(Kmd.SinkFor(k.ProcessId, k), o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
                record(new KernelPathRecorder(umd));
                umd.Flush();
                return true;
            }
            case VaContext v:
            {
                var p = ProcessOf(v.ProcessId, nameof(context));
                if (!ReferenceEquals(p.RunLists, v.Process))
                    throw new ArgumentException($"run-list context {v.Id} is not in Machine.Process({v.ProcessId})'s address space", nameof(context));
                var r = new VaRecorder(h => SubmissionVa(p, h));
                record(r);
                if (r.Written.IsEmpty) return true;
                var buffer = v.Process.CreateDmaBuffer(r.Written.Length);
                r.Written.CopyTo(buffer.Dwords);
                return _runLists!.Scheduler.TrySubmit(v, buffer, r.Written.Length, r.Named.ToArray(), out _);
            }
            case UserQueueContext q:
            {
                var p = ProcessOf(q.ProcessId, nameof(context));
                if (!ReferenceEquals(q.Space, p.GpuSpace))
                    throw new ArgumentException($"user queue {q.Id} does not run in Machine.Process({q.ProcessId})'s address space", nameof(context));
                var r = new VaRecorder(h => SubmissionVa(p, h));
                record(r);
                if (r.Written.IsEmpty) return true;
                // A writer opened now starts at the published WritePtr; packets that do not all fit are never published.
                var queue = q.Registration.Open(Device.Memory);
                var packets = r.Written;
                for (int off = 0; off < packets.Length;)
                {
                    int len = new Device.Packets.PacketHeader(packets[off]).LengthDwords;
                    if (!queue.TryWrite(packets.Slice(off, len))) return false;
                    off += len;
                }
                queue.Flush();
                return true;
            }
            default:
                throw new ArgumentException($"context {context.Id} has no submission path", nameof(context));
        }
    }

    private MachineProcess ProcessOf(uint processId, string parameter)
    {
        lock (Scheduler.KernelLock)
            if (_processes.TryGetValue(processId, out var p)) return p;
        throw new ArgumentException($"process {processId} has no Machine.Process address space", parameter);
    }

    // The process's VA of an allocation it owns or shares (the KMD's record, the one access record of every back end),
    // mapped writable into its GPU space on first use.
    private ulong SubmissionVa(MachineProcess p, AllocationHandle h)
    {
        lock (Scheduler.KernelLock)
        {
            ulong key = ((ulong)(uint)h.Index << 32) | h.Generation;
            if (p.SubmissionVas.TryGetValue(key, out ulong va)) return va;
            if (!Kmd.Process(p.Id).TryGetSize(h, out ulong bytes)) throw new AllocationNotSharedException(p.Id, h);
            va = p.RunLists is { } rl ? _runLists!.Scheduler.MapPinnedAllocation(rl, h, bytes).Va : p.GpuSpace.MapAllocation(h);
            p.SubmissionVas.Add(key, va);
            return va;
        }
    }
}
