using Coproc.Fast.Driver.VidMm.Residency;
using Microsoft.Extensions.ObjectPool;

namespace Coproc.Fast.Driver.Umd;

/// <summary>
/// The storage of one user-mode command buffer (seed 001 §3.1 step 3): packet dwords in the device format whose
/// memory operands hold <b>offsets inside allocations</b>, plus the resource list naming the allocation of each
/// operand (§3.2; native-layout.md "Command buffers, resource lists and patching"). Pooled and reused, so building
/// commands allocates nothing in steady state.
/// </summary>
public sealed class CommandBuffer
{
    internal CommandBuffer(int dwords, int references)
    {
        Dwords = new uint[dwords];
        References = new ResourceReference[references];
    }

    /// <summary>Packet storage; the first <see cref="DwordCount"/> are written.</summary>
    public uint[] Dwords { get; }

    /// <summary>Resource-list storage; the first <see cref="ReferenceCount"/> are written.</summary>
    public ResourceReference[] References { get; }

    /// <summary>Dwords written.</summary>
    public int DwordCount { get; internal set; }

    /// <summary>Resource-list entries written.</summary>
    public int ReferenceCount { get; internal set; }

    /// <summary>The written packets.</summary>
    public ReadOnlySpan<uint> WrittenDwords => Dwords.AsSpan(0, DwordCount);

    /// <summary>The written resource list.</summary>
    public ReadOnlySpan<ResourceReference> WrittenReferences => References.AsSpan(0, ReferenceCount);

    internal void Reset()
    {
        DwordCount = 0;
        ReferenceCount = 0;
    }

    /// <summary>Pool policy: buffers of a fixed capacity, cleared on return.</summary>
    internal sealed class Policy(int dwords, int references) : PooledObjectPolicy<CommandBuffer>
    {
        public override CommandBuffer Create() => new(dwords, references);

        public override bool Return(CommandBuffer obj)
        {
            obj.Reset();
            return true;
        }
    }
}
