using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Kernel;

public sealed partial class Kmd
{
    /// <summary>
    /// Queues a DMA buffer the kernel wrote itself (privileged packets such as FLIP, seed 001 §9.1: "inserted only by
    /// the KMD") on <paramref name="context"/>, behind the context's earlier work: from the process's DMA-buffer pool,
    /// no resource list, no validation (nothing of it comes from user mode). Returns its submission id.
    /// </summary>
    internal long SubmitKernelBuffer(VidSchContext context, ReadOnlySpan<uint> privilegedPackets)
    {
        var scheduler = context.Scheduler;
        if (privilegedPackets.Length > scheduler.Options.DmaBufferDwords)
            throw new ArgumentOutOfRangeException(nameof(privilegedPackets), "a kernel buffer larger than a DMA buffer");
        var process = Process(context.ProcessId);
        var buffer = Rent(process, privilegedPackets.Length, quotas: null); // the kernel's own buffer: no quota
        privilegedPackets.CopyTo(buffer.Dwords(_vidmm.Memory));
        buffer.DwordCount = privilegedPackets.Length;
        buffer.ReferenceCount = 0;
        return scheduler.Enqueue(buffer, context);
    }
}
