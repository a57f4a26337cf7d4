namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// An in-memory, bounded trace sink. Keeps the <b>first</b> <see cref="Capacity"/> events in emission order and
/// counts the rest as <see cref="Dropped"/> — so a deterministic run records the same events in the same order
/// every time, whatever its length. Thread-safe (threaded runs emit from the device and scheduler threads);
/// the lock is taken only while enabled. Storage grows by doubling up to the capacity, so steady-state
/// emission allocates nothing.
/// </summary>
public sealed class TraceRecorder : ITraceSink
{
    /// <summary>Default bound on recorded events (at ~48 bytes each, about 12 MiB).</summary>
    public const int DefaultCapacity = 1 << 18;

    private readonly Lock _lock = new();
    private readonly List<TraceTrack> _tracks = [];
    private TraceEvent[] _events;
    private int _count;
    private long _dropped;
    private volatile bool _enabled = true;

    /// <summary>Creates a recorder keeping at most <paramref name="capacity"/> events.</summary>
    /// <param name="capacity">Bound on recorded events (≥ 1).</param>
    /// <param name="clockHz">Device clock used by writers to turn cycles into time (default 1 GHz, as the gate's model).</param>
    public TraceRecorder(int capacity = DefaultCapacity, ulong clockHz = 1_000_000_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfZero(clockHz);
        Capacity = capacity;
        ClockHz = clockHz;
        _events = new TraceEvent[Math.Min(capacity, 1024)];
    }

    /// <summary>Bound on recorded events.</summary>
    public int Capacity { get; }

    /// <summary>Device cycles per second.</summary>
    public ulong ClockHz { get; }

    /// <summary>True while recording; set false to pause (emitters then skip building events).</summary>
    public bool IsEnabled
    {
        get => _enabled;
        set => _enabled = value;
    }

    /// <summary>Events recorded so far.</summary>
    public int Count
    {
        get { lock (_lock) return _count; }
    }

    /// <summary>Events refused because the recorder was full.</summary>
    public long Dropped
    {
        get { lock (_lock) return _dropped; }
    }

    /// <summary>The tracks defined so far, in id order.</summary>
    public IReadOnlyList<TraceTrack> Tracks
    {
        get { lock (_lock) return _tracks.ToArray(); }
    }

    /// <inheritdoc />
    public int DefineTrack(TraceTrackKind kind, string name, uint processId, string processName, uint contextId = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(processName);
        lock (_lock)
        {
            int id = _tracks.Count;
            _tracks.Add(new TraceTrack(id, kind, name, processId, processName, contextId));
            return id;
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">The event names a track this recorder never defined.</exception>
    public void Emit(in TraceEvent traceEvent)
    {
        if (!_enabled) return;
        lock (_lock)
        {
            if ((uint)traceEvent.Track >= (uint)_tracks.Count)
                throw new ArgumentOutOfRangeException(nameof(traceEvent), traceEvent.Track,
                    $"trace event '{traceEvent.Name}' names track {traceEvent.Track}, but only {_tracks.Count} tracks are defined");
            if (_count == Capacity)
            {
                _dropped++;
                return;
            }
            if (_count == _events.Length) Array.Resize(ref _events, Math.Min(Capacity, _events.Length * 2));
            _events[_count++] = traceEvent;
        }
    }

    /// <summary>An immutable copy of the tracks and events recorded so far, for the writers.</summary>
    public TraceSnapshot Snapshot()
    {
        lock (_lock) return new TraceSnapshot(_tracks.ToArray(), _events.AsSpan(0, _count).ToArray(), _dropped, ClockHz);
    }

    /// <summary>Forgets every event (tracks stay defined).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _count = 0;
            _dropped = 0;
        }
    }
}

/// <summary>A recorded trace: tracks, events in emission order, how many were dropped, and the device clock.</summary>
/// <param name="Tracks">Tracks in id order.</param>
/// <param name="Events">Events in emission order.</param>
/// <param name="Dropped">Events refused because the recorder was full.</param>
/// <param name="ClockHz">Device cycles per second.</param>
public sealed record TraceSnapshot(IReadOnlyList<TraceTrack> Tracks, IReadOnlyList<TraceEvent> Events, long Dropped, ulong ClockHz)
{
    /// <summary>An empty trace at 1 GHz.</summary>
    public static TraceSnapshot Empty { get; } = new([], [], 0, 1_000_000_000);

    /// <summary>Converts a cycle count to microseconds at <see cref="ClockHz"/>.</summary>
    public double ToMicroseconds(ulong cycles) => cycles * 1_000_000.0 / ClockHz;

    /// <summary>The last cycle any event reaches (0 for an empty trace).</summary>
    public ulong EndCycle
    {
        get
        {
            ulong end = 0;
            foreach (var e in Events) end = Math.Max(end, e.EndCycle);
            return end;
        }
    }
}
