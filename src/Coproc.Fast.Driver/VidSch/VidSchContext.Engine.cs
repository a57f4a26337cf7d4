using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Driver.VidSch;

public sealed partial class VidSchContext
{
    /// <summary>
    /// The engine this context runs on (fixed at creation, docs/concepts.md, "The basic model": one scheduler per engine). The
    /// KMD accepts an engine work packet only on a context of that packet's engine (native-layout.md §16.1).
    /// </summary>
    public EngineKind Engine { get; internal init; }

    /// <summary>The scheduler (of <see cref="Engine"/>) that owns this context.</summary>
    internal VidSchScheduler Scheduler { get; init; } = null!;

    /// <summary>Its flip chain when it presents (n-buffering state, counters, virtual ring); null otherwise.</summary>
    public Coproc.Fast.Driver.Display.FlipChain? FlipChain { get; internal set; }
}
