namespace Coproc.Fast.Driver.VidSch;

public sealed partial class VidSchContext
{
    /// <summary>The scheduler (of <see cref="GpuContext.Engine"/>) that owns this context.</summary>
    internal VidSchScheduler Scheduler { get; init; } = null!;
}
