using System.Numerics;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Device.Scheduling;

/// <summary>
/// The scheduling core (seed 003): firmware on the device clock. On its interrupt it takes a snapshot of every
/// doorbell rung since the last read (clearing them), walks only the set bits, reads each rung queue's descriptor
/// through the doorbell → queue mapping, validates it and puts queues with new entries on their engine's run list.
/// A queue with a bad descriptor or a runaway write pointer is faulted alone, counted and logged. <see cref="Service"/>,
/// <see cref="TryGetNext(EngineKind, out RunnableQueue)"/>, <see cref="Report"/> and <see cref="FaultQueue"/> run on the device thread only.
/// </summary>
internal sealed unsafe class SchedulingCore : IEngineRunListSource
{
    /// <summary>Default hardware run-list slots per engine.</summary>
    public const int DefaultSlotsPerEngine = 8;

    /// <summary>Smallest ring (bytes).</summary>
    public const uint MinRingBytes = 4096;

    /// <summary>Largest ring (bytes).</summary>
    public const uint MaxRingBytes = 16u << 20;

    /// <summary>Fault records kept for the driver to read.</summary>
    public const int FaultLogCapacity = 64;

    private readonly DeviceMemory _memory;
    private readonly DoorbellBlock _block;
    private readonly EngineRunList[] _runLists = new EngineRunList[Engines.Engines.Count];
    private readonly QueueFault[] _faultLog = new QueueFault[FaultLogCapacity];
    private readonly Lock _faultLock = new();
    private int _faultHead, _faultCount;
    private long _services, _queueFaults, _lostFaultRecords;
    private ulong _lastFault;
    private ulong _cycle;
    private ulong _queueTimeout = DefaultQueueTimeoutCycles;

    /// <summary>SC_QUEUE_TIMEOUT at power-on: 2,000,000,000 cycles (2 s at 1 GHz, the kernel contexts' default timeout).</summary>
    public const ulong DefaultQueueTimeoutCycles = 2_000_000_000;

    internal SchedulingCore(DeviceMemory memory, DoorbellBlock block, int slotsPerEngine)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slotsPerEngine, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(slotsPerEngine, DoorbellVector.Count);
        _memory = memory;
        _block = block;
        for (int e = 0; e < _runLists.Length; e++) _runLists[e] = new EngineRunList((EngineKind)e, block, slotsPerEngine);
        SlotsPerEngine = slotsPerEngine;
        block.Core = this;
    }

    /// <summary>Hardware run-list slots per engine.</summary>
    public int SlotsPerEngine { get; }

    /// <summary>Non-empty snapshots serviced.</summary>
    public long Services => Volatile.Read(ref _services);

    /// <summary>Queues faulted so far.</summary>
    public long QueueFaults => Interlocked.Read(ref _queueFaults);

    /// <summary>Fault records dropped because the log was full (the counters still count them).</summary>
    public long LostFaultRecords => Interlocked.Read(ref _lostFaultRecords);

    /// <summary>SC_LAST_FAULT encoding of the most recent fault; 0 when none.</summary>
    public ulong LastFaultRegister => Volatile.Read(ref _lastFault);

    /// <summary>
    /// Start cycle of the device slice now running: the time stamp of faults the command processors report between
    /// doorbell services (without it a fault found slices after the last ring carried that ring's cycle).
    /// </summary>
    internal ulong SliceCycle { set => _cycle = value; }

    /// <summary>
    /// SC_QUEUE_TIMEOUT: cycles a user queue may run on engines without completing a packet before it is faulted with
    /// <see cref="QueueFaultReason.Timeout"/> (native-layout.md §13.7 hang detection); 0 = no limit. Power-on:
    /// <see cref="DefaultQueueTimeoutCycles"/>.
    /// </summary>
    public ulong QueueTimeoutCycles
    {
        get => Volatile.Read(ref _queueTimeout);
        set => Volatile.Write(ref _queueTimeout, value);
    }

    /// <summary>The run list of <paramref name="engine"/>.</summary>
    public EngineRunList RunList(EngineKind engine) => _runLists[(int)engine];

    /// <summary>SC_RUNNABLE: bit <c>e</c> set while engine <c>e</c>'s run list holds a slotted or waiting queue.</summary>
    public uint RunnableEngineMask
    {
        get
        {
            uint mask = 0;
            for (int e = 0; e < _runLists.Length; e++)
                if (!_runLists[e].IsEmpty) mask |= 1u << e;
            return mask;
        }
    }

    /// <summary>
    /// Services the doorbell interrupt at device cycle <paramref name="cycle"/>: snapshot-and-clear, word by word in
    /// ascending order, with one descriptor check per rung doorbell (native-layout.md §13.2, §13.4). Returns the number
    /// of doorbells taken. Allocation-free.
    /// </summary>
    public int Service(ulong cycle)
    {
        _cycle = cycle;
        // Design: word by word straight from the vector (TakeSummary, then TakeWord per rung word), doorbells in ascending
        // order as before, with no 256-bit DoorbellSnapshot in between: returning that struct copied it with one 32-byte
        // load of four 8-byte stores, a store-forwarding stall on every service (docs/performance.md, goal 1 in the
        // eleventh session). The services counter has one writer, this thread: a plain increment published with a
        // release store, not a locked one.
        var vector = _block.Vector;
        uint summary = vector.TakeSummary();
        int n = 0;
        while (summary != 0)
        {
            int w = BitOperations.TrailingZeroCount(summary) >> 3;
            summary &= ~(0xFFu << (8 * w));
            ulong bits = vector.TakeWord(w);
            while (bits != 0)
            {
                int db = (w << 6) | BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                if (n++ == 0) Volatile.Write(ref _services, _services + 1); // a non-empty snapshot, counted before its first doorbell
                ServiceDoorbell(db);
            }
        }
        return n;
    }

    private void ServiceDoorbell(int db)
    {
        var reg = _block[db];
        if (reg.State != DoorbellState.Registered) return; // unregistered or faulted after the ring: nothing to run
        var desc = (RingDescriptor*)_memory.TryPointer(reg.Descriptor.Location, reg.Descriptor.Offset, RingDescriptor.SizeInBytes);
        // The address was checked at registration and memories never shrink, so desc is never null here.
        var reason = Validate(desc, reg, out ulong detail);
        if (reason != QueueFaultReason.None)
        {
            FaultQueue(db, reason, detail);
            return;
        }
        if (Volatile.Read(ref desc->WritePtr) != Volatile.Read(ref desc->ReadPtr))
            _runLists[(int)reg.Engine].MakeRunnable(reg);
    }

    private QueueFaultReason Validate(RingDescriptor* d, DoorbellRegistration reg, out ulong detail)
    {
        uint size = d->SizeBytes;
        detail = size;
        if (size < MinRingBytes || size > MaxRingBytes || !BitOperations.IsPow2(size)) return QueueFaultReason.BadRingSize;
        detail = d->Base;
        if (!PhysicalAddress.TryDecode(d->Base, out var ring) || (ring.Offset & 0xFFF) != 0 || !_memory.Contains(ring, size))
            return QueueFaultReason.BadRingBase;
        detail = d->ContextId;
        if (d->ContextId != reg.ContextId) return QueueFaultReason.ContextMismatch;
        ulong write = Volatile.Read(ref d->WritePtr), read = Volatile.Read(ref d->ReadPtr);
        detail = write;
        if ((write & 3) != 0) return QueueFaultReason.MisalignedWritePtr;
        ulong ahead = write - read;
        if ((long)ahead < 0) return QueueFaultReason.WritePtrBehindReadPtr;
        if (ahead > size) return QueueFaultReason.RunawayWritePtr;
        return QueueFaultReason.None;
    }

    /// <inheritdoc />
    public bool TryGetNext(EngineKind engine, out RunnableQueue queue) => _runLists[(int)engine].TryGetNext(out queue);

    /// <inheritdoc />
    public bool TryGetNext(EngineKind engine, ReadOnlySpan<ulong> skip, out RunnableQueue queue) =>
        _runLists[(int)engine].TryGetNext(skip, out queue);

    /// <summary>
    /// True while doorbell <paramref name="doorbell"/> still holds registration <paramref name="generation"/> (registered or
    /// faulted, not freed or re-registered): only then does the queue's execution context and descriptor still belong to it.
    /// </summary>
    internal bool HoldsRegistration(int doorbell, uint generation)
    {
        var reg = _block[doorbell];
        return reg.State != DoorbellState.Free && reg.Generation == generation;
    }

    /// <inheritdoc />
    public bool IsSlotted(in RunnableQueue queue) => _runLists[(int)queue.Engine].IsSlotted(queue);

    /// <inheritdoc />
    public void Report(in RunnableQueue queue, ulong cyclesUsed, bool drained) =>
        _runLists[(int)queue.Engine].Report(queue, cyclesUsed, drained);

    /// <inheritdoc />
    public void FaultQueue(int doorbell, QueueFaultReason reason, ulong detail)
    {
        var reg = _block[doorbell];
        if (reg.State != DoorbellState.Registered) return;
        _block.Fault(doorbell);
        var fault = new QueueFault(doorbell, reg.ContextId, reason, detail, _cycle);
        Interlocked.Increment(ref _queueFaults);
        Volatile.Write(ref _lastFault, fault.Register);
        lock (_faultLock)
        {
            if (_faultCount == FaultLogCapacity)
            {
                Interlocked.Increment(ref _lostFaultRecords);
                return;
            }
            _faultLog[(_faultHead + _faultCount++) % FaultLogCapacity] = fault;
        }
    }

    /// <summary>Takes the oldest unread fault record (any thread).</summary>
    public bool TryTakeFault(out QueueFault fault)
    {
        lock (_faultLock)
        {
            if (_faultCount == 0)
            {
                fault = default;
                return false;
            }
            fault = _faultLog[_faultHead];
            _faultHead = (_faultHead + 1) % FaultLogCapacity;
            _faultCount--;
            return true;
        }
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        foreach (var r in _runLists) r.Reset();
        lock (_faultLock)
        {
            Array.Clear(_faultLog);
            _faultHead = _faultCount = 0;
        }
        _services = _queueFaults = _lostFaultRecords = 0;
        _lastFault = 0;
        _cycle = 0;
        _queueTimeout = DefaultQueueTimeoutCycles;
    }
}
