namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// Per-process resource limits of the kernel-mode driver (docs/containment.md "Quotas"): what one process may hold in
/// the kernel at once, so that no process can exhaust kernel memory for the others. A submission past a limit is
/// refused with <see cref="CommandBufferRejection.QuotaExceeded"/>; nothing is queued.
/// </summary>
public sealed record KmdQuotas
{
    /// <summary>
    /// Submissions of one process accepted and not yet finished (queued, being prepared, in the hardware). Default 1,024.
    /// </summary>
    public int MaxOutstandingSubmissions { get; init; } = 1024;

    /// <summary>
    /// Bytes of kernel DMA buffers one process may hold, in use and pooled together (buffers are sized to their content in
    /// power-of-two classes from 4 KiB, so a small buffer costs 4 KiB). Default 8 MiB.
    /// </summary>
    public ulong MaxKernelMemoryBytes { get; init; } = 8UL << 20;

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutstandingSubmissions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxKernelMemoryBytes, 4096UL);
    }
}
