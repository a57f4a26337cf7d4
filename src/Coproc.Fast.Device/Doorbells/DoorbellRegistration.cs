using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Doorbells;

/// <summary>
/// What the doorbell block and the scheduling core know about one doorbell (seed 003: "the page to monitor"
/// and "the mapping doorbell → command queue"). Written under the block's command lock; <see cref="State"/> is
/// published last with a release store so a ringing thread or the scheduling core that reads it with an
/// acquire load sees the other fields complete.
/// </summary>
internal sealed class DoorbellRegistration
{
    private int _state;

    internal DoorbellRegistration(int index) => Index = index;

    /// <summary>The doorbell number, 0..255; also its page number in the doorbell aperture.</summary>
    public int Index { get; }

    /// <summary>Current state (acquire load).</summary>
    public DoorbellState State => (DoorbellState)Volatile.Read(ref _state);

    /// <summary>Incremented at every registration, so stale run-list entries of an earlier owner are recognised.</summary>
    public uint Generation { get; private set; }

    /// <summary>The only process whose writes ring this doorbell (0 = the kernel).</summary>
    public uint OwnerProcessId { get; private set; }

    /// <summary>The context the queue belongs to.</summary>
    public uint ContextId { get; private set; }

    /// <summary>Physical address of the queue's ring descriptor.</summary>
    public PhysicalAddress Descriptor { get; private set; }

    /// <summary>The engine whose run list receives the queue.</summary>
    public EngineKind Engine { get; private set; }

    /// <summary>Priority 0 (lowest) .. 15 (highest).</summary>
    public byte Priority { get; private set; }

    /// <summary>Time slice in device cycles.</summary>
    public uint TimeSliceCycles { get; private set; }

    /// <summary>Encoded PA of the queue's execution context (save area in local memory), 0 = none.</summary>
    public ulong SaveArea { get; private set; }

    internal void Register(uint owner, uint context, PhysicalAddress descriptor, EngineKind engine, byte priority, uint timeSlice, ulong saveArea)
    {
        SaveArea = saveArea;
        OwnerProcessId = owner;
        ContextId = context;
        Descriptor = descriptor;
        Engine = engine;
        Priority = priority;
        TimeSliceCycles = timeSlice;
        Generation++;
        Volatile.Write(ref _state, (int)DoorbellState.Registered);
    }

    internal void Fault() => Interlocked.CompareExchange(ref _state, (int)DoorbellState.Faulted, (int)DoorbellState.Registered);

    internal void Free() => Volatile.Write(ref _state, (int)DoorbellState.Free);
}
