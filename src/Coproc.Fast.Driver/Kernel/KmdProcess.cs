using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The kernel's record of one process (ring-3 client): the allocations it owns — the only handles its command
/// buffers may name (seed 001 §3.7) — and its pool of kernel-only DMA buffers, reused after their fence retires them
/// (seed 001 §19.3 "Retired → returned to DMA pool").
/// </summary>
public sealed class KmdProcess
{
    private readonly Dictionary<AllocationHandle, ulong> _owned = new();
    private readonly Stack<DmaBuffer> _pool = new();
    private readonly object _gate = new();

    internal KmdProcess(uint processId) => ProcessId = processId;

    /// <summary>The process id (as the gate counts it).</summary>
    public uint ProcessId { get; }

    /// <summary>DMA buffers this process's pool has created.</summary>
    public int DmaBuffersCreated { get; private set; }

    /// <summary>DMA buffers idle in the pool.</summary>
    public int DmaBuffersPooled { get { lock (_gate) return _pool.Count; } }

    /// <summary>Records that the process owns <paramref name="handle"/> of <paramref name="size"/> bytes.</summary>
    public void Own(AllocationHandle handle, ulong size)
    {
        lock (_gate) _owned[handle] = size;
    }

    /// <summary>Forgets an allocation (freed or handed over).</summary>
    public void Disown(AllocationHandle handle)
    {
        lock (_gate) _owned.Remove(handle);
    }

    /// <summary>True (with its size) when the process owns <paramref name="handle"/>.</summary>
    public bool TryGetSize(AllocationHandle handle, out ulong size)
    {
        lock (_gate) return _owned.TryGetValue(handle, out size);
    }

    /// <summary>A pooled DMA buffer, if any (its own lock only: the steady-state submission path).</summary>
    internal bool TryRentPooled(out DmaBuffer buffer)
    {
        lock (_gate) return _pool.TryPop(out buffer!);
    }

    internal DmaBuffer RentDmaBuffer(Func<KmdProcess, DmaBuffer> create)
    {
        lock (_gate)
        {
            if (_pool.TryPop(out var b)) return b;
            DmaBuffersCreated++;
        }
        return create(this);
    }

    internal void ReturnDmaBuffer(DmaBuffer buffer)
    {
        buffer.ResetForReuse();
        lock (_gate) _pool.Push(buffer);
    }
}
