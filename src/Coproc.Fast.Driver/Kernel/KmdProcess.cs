using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The kernel's record of one process (ring-3 client): the allocations it owns — the only handles its command
/// buffers may name (seed 001 §3.7) — and its pool of kernel-only DMA buffers, reused after their fence retires them
/// (seed 001 §19.3 "Retired → returned to DMA pool"), with its quotas' counters (<see cref="KmdQuotas"/>).
/// </summary>
/// <remarks>
/// Design: DMA buffers are sized to their content in power-of-two size classes (4 KiB, 8 KiB, … up to the largest
/// DMA buffer) and pooled per class. <see cref="Outstanding"/> counts buffers rented and not yet returned;
/// <see cref="KernelBytes"/> counts the bytes of every buffer the process holds (rented or pooled). Both change only
/// under the process's own lock, so the steady-state submission path takes no kernel lock. Invariant (R3 of
/// VidSchScheduler.Recovery.cs): a buffer is returned only when no ring or save area can reach it.
/// </remarks>
public sealed class KmdProcess
{
    /// <summary>Smallest DMA buffer (one page).</summary>
    internal const int MinClassBytes = 4096;

    private readonly Dictionary<AllocationHandle, ulong> _owned = new();
    private readonly Stack<DmaBuffer>[] _pools;
    private readonly object _gate = new();

    internal KmdProcess(uint processId, int classes = 1)
    {
        ProcessId = processId;
        _pools = new Stack<DmaBuffer>[classes];
        for (int i = 0; i < classes; i++) _pools[i] = new Stack<DmaBuffer>();
    }

    /// <summary>The process id (as the gate counts it).</summary>
    public uint ProcessId { get; }

    /// <summary>DMA buffers this process's pool has created.</summary>
    public int DmaBuffersCreated { get; private set; }

    /// <summary>DMA buffers idle in the pool.</summary>
    public int DmaBuffersPooled
    {
        get
        {
            lock (_gate)
            {
                int n = 0;
                foreach (var p in _pools) n += p.Count;
                return n;
            }
        }
    }

    /// <summary>Submissions accepted and not yet finished (their DMA buffers are not back in the pool).</summary>
    public int Outstanding { get { lock (_gate) return _outstanding; } }

    /// <summary>Bytes of kernel DMA buffers the process holds (in use and pooled).</summary>
    public ulong KernelBytes { get { lock (_gate) return _kernelBytes; } }

    /// <summary>Submissions refused because a quota was reached.</summary>
    public long QuotaRejections { get { lock (_gate) return _quotaRejections; } }

    private int _outstanding;
    private ulong _kernelBytes;
    private long _quotaRejections;

    /// <summary>Records that the process owns <paramref name="handle"/> of <paramref name="size"/> bytes.</summary>
    public void Own(AllocationHandle handle, ulong size)
    {
        lock (_gate) _owned[handle] = size;
    }

    /// <summary>Forgets an allocation (freed or handed over).</summary>
    public void Disown(AllocationHandle handle)
    {
        bool removed;
        lock (_gate) removed = _owned.Remove(handle);
        // Outside the process's lock: the listener (a machine) unmaps what it mapped for this process (lock order: the
        // kernel lock, then this process's).
        if (removed) Disowned?.Invoke(ProcessId, handle);
    }

    /// <summary>Set by the KMD: told when <see cref="Disown"/> removes an allocation from this process's record.</summary>
    internal Action<uint, AllocationHandle>? Disowned { get; set; }

    /// <summary>True (with its size) when the process owns <paramref name="handle"/>.</summary>
    public bool TryGetSize(AllocationHandle handle, out ulong size)
    {
        lock (_gate) return _owned.TryGetValue(handle, out size);
    }

    internal enum RentOutcome : byte { Rented, Create, OutstandingQuota, MemoryQuota }

    /// <summary>
    /// Rents a pooled buffer of size class <paramref name="sizeClass"/>, or reserves the quota for a new one of
    /// <paramref name="classBytes"/> (<see cref="RentOutcome.Create"/>: the caller creates it, or calls
    /// <see cref="CancelCreate"/>). Pooled buffers of other classes are given up (into <paramref name="trimmed"/>, for
    /// the caller to free) when the memory quota would otherwise refuse. <paramref name="quotas"/> null: the kernel's
    /// own buffers (not limited).
    /// </summary>
    internal RentOutcome TryRent(int sizeClass, ulong classBytes, KmdQuotas? quotas, out DmaBuffer buffer, ref List<DmaBuffer>? trimmed)
    {
        lock (_gate)
        {
            buffer = null!;
            if (quotas is not null && _outstanding >= quotas.MaxOutstandingSubmissions)
            {
                _quotaRejections++;
                return RentOutcome.OutstandingQuota;
            }
            if (_pools[sizeClass].TryPop(out buffer!))
            {
                _outstanding++;
                return RentOutcome.Rented;
            }
            if (quotas is not null && _kernelBytes + classBytes > quotas.MaxKernelMemoryBytes)
            {
                // Idle buffers of other classes count against the quota: give them up, largest first.
                for (int c = _pools.Length - 1; c >= 0 && _kernelBytes + classBytes > quotas.MaxKernelMemoryBytes; c--)
                    while (_kernelBytes + classBytes > quotas.MaxKernelMemoryBytes && _pools[c].TryPop(out var idle))
                    {
                        _kernelBytes -= (ulong)idle.CapacityDwords * 4;
                        (trimmed ??= new List<DmaBuffer>()).Add(idle);
                    }
                if (_kernelBytes + classBytes > quotas.MaxKernelMemoryBytes)
                {
                    _quotaRejections++;
                    return RentOutcome.MemoryQuota;
                }
            }
            _kernelBytes += classBytes;
            _outstanding++;
            DmaBuffersCreated++;
            return RentOutcome.Create;
        }
    }

    /// <summary>Undoes a <see cref="RentOutcome.Create"/> reservation whose buffer could not be created.</summary>
    internal void CancelCreate(ulong classBytes)
    {
        lock (_gate)
        {
            _kernelBytes -= classBytes;
            _outstanding--;
            DmaBuffersCreated--;
        }
    }

    /// <summary>Returns a rented buffer to its class's pool (rejected unqueued, retired, or failed under invariant R3).</summary>
    internal void ReturnDmaBuffer(DmaBuffer buffer)
    {
        buffer.ResetForReuse();
        lock (_gate)
        {
            _outstanding--;
            _pools[buffer.SizeClass].Push(buffer);
        }
    }
}
