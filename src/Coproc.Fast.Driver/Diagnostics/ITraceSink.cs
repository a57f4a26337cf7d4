namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// Where scheduling events go. Emitters check <see cref="IsEnabled"/> before building an event, so a run with
/// nobody listening pays one predictable branch per would-be event (docs/observability.md: tracing
/// costs nothing when disabled).
/// </summary>
public interface ITraceSink
{
    /// <summary>True when events are wanted; emitters skip building events when false.</summary>
    bool IsEnabled { get; }

    /// <summary>Defines a track once (at set-up, not on a hot path) and returns its id.</summary>
    /// <param name="kind">What the row shows.</param>
    /// <param name="name">Display name.</param>
    /// <param name="processId">Owning emulated process (0 = device).</param>
    /// <param name="processName">Owning process's name.</param>
    /// <param name="contextId">The context of a context-queue row, else 0.</param>
    int DefineTrack(TraceTrackKind kind, string name, uint processId, string processName, uint contextId = 0);

    /// <summary>Records one event. Must not throw for a well-formed event; may drop it (bounded sinks).</summary>
    void Emit(in TraceEvent traceEvent);
}

/// <summary>The default sink: disabled, defines tracks as -1 and drops every event.</summary>
public sealed class NullTraceSink : ITraceSink
{
    /// <summary>The single instance.</summary>
    public static readonly NullTraceSink Instance = new();

    private NullTraceSink() { }

    /// <inheritdoc />
    public bool IsEnabled => false;

    /// <inheritdoc />
    public int DefineTrack(TraceTrackKind kind, string name, uint processId, string processName, uint contextId = 0) => -1;

    /// <inheritdoc />
    public void Emit(in TraceEvent traceEvent) { }
}
