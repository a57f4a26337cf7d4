using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.Umd;

/// <summary>Where a <see cref="CommandBufferBuilder"/> flushes (the runtime's path to the kernel, seed 001 §3.1 step 5).</summary>
public interface ICommandBufferSink
{
    /// <summary>
    /// Hands a command buffer and its resource list to the kernel. The sink must not keep references to the spans:
    /// the builder reuses the storage as soon as this returns (the kernel copies them in, seed 001 §3.7).
    /// </summary>
    void Submit(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources);
}
