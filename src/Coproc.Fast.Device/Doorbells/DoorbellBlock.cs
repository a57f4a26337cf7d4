using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Device.Doorbells;

/// <summary>
/// The doorbell block (seed 003): monitors the 256 doorbell pages of the doorbell aperture, records rings in the
/// 256-bit <see cref="DoorbellVector"/> and interrupts the scheduling core. Its registers live at
/// <see cref="MmioMap.DoorbellBase"/> (native-layout.md §13.3); the page writes arrive through
/// <see cref="DoorbellAperture"/>.
/// <para>
/// Writer identity: the kernel maps a doorbell page only into its owner's address space, so on real hardware a
/// write can only come from the owner. The emulated write API makes that explicit: every page write carries the
/// writing process id, and a write whose id differs from the registered owner is ignored and counted
/// (DB_WRONG_OWNER_WRITES) — it models a page mapped into the wrong process.
/// </para>
/// </summary>
internal sealed class DoorbellBlock : IMmioBlock, IDisposable
{
    private readonly DeviceMemory _memory;
    private readonly DoorbellRegistration[] _registrations = new DoorbellRegistration[DoorbellVector.Count];
    private readonly Lock _commandLock = new();
    private long _unregisteredWrites, _wrongOwnerWrites, _faultedWrites;
    private int _registered;

    // Staging registers (written by the driver, consumed by DB_COMMAND).
    private uint _index, _owner, _context, _scheduling, _timeSlice;
    private ulong _descriptor, _saveArea;
    private DoorbellStatus _status;

    internal DoorbellBlock(DeviceMemory memory)
    {
        _memory = memory;
        for (int i = 0; i < _registrations.Length; i++) _registrations[i] = new DoorbellRegistration(i);
        Interrupt = new DoorbellInterruptLine(Vector);
    }

    /// <inheritdoc />
    public uint Base => MmioMap.DoorbellBase;

    /// <inheritdoc />
    public uint Size => MmioMap.BlockSize;

    /// <summary>The 256-bit doorbell vector.</summary>
    public DoorbellVector Vector { get; } = new();

    /// <summary>The scheduling core's interrupt line.</summary>
    public DoorbellInterruptLine Interrupt { get; }

    /// <summary>The scheduling core behind this block; its counters are the SC_* registers.</summary>
    internal Scheduling.SchedulingCore? Core { get; set; }

    /// <summary>Registration of doorbell <paramref name="index"/> (0..255).</summary>
    public DoorbellRegistration this[int index] => _registrations[index];

    /// <summary>Registered (or faulted) doorbells.</summary>
    public int RegisteredCount => Volatile.Read(ref _registered);

    /// <summary>Page writes to unregistered doorbells (ignored).</summary>
    public long UnregisteredWrites => Interlocked.Read(ref _unregisteredWrites);

    /// <summary>Page writes by a process other than the doorbell's owner (ignored).</summary>
    public long WrongOwnerWrites => Interlocked.Read(ref _wrongOwnerWrites);

    /// <summary>Page writes to a faulted queue's doorbell (ignored).</summary>
    public long FaultedWrites => Interlocked.Read(ref _faultedWrites);

    /// <summary>
    /// A write by process <paramref name="writerProcessId"/> to doorbell page <paramref name="doorbell"/>. Registered and
    /// owned: sets the doorbell's bit and raises the scheduling core's interrupt. Otherwise ignored and counted.
    /// Lock-free; any thread.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnPageWrite(int doorbell, uint writerProcessId)
    {
        var reg = _registrations[doorbell & (DoorbellVector.Count - 1)];
        if (reg.State != DoorbellState.Registered || (reg.OwnerProcessId != writerProcessId && writerProcessId != DoorbellAperture.BusWriter))
        {
            RejectSlow(reg, writerProcessId);
            return;
        }
        Vector.Mark(doorbell);
        Interrupt.Raise();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RejectSlow(DoorbellRegistration reg, uint writer)
    {
        switch (reg.State)
        {
            case DoorbellState.Free: Interlocked.Increment(ref _unregisteredWrites); break;
            case DoorbellState.Faulted: Interlocked.Increment(ref _faultedWrites); break;
            default:
                if (reg.OwnerProcessId != writer && writer != DoorbellAperture.BusWriter) Interlocked.Increment(ref _wrongOwnerWrites);
                else OnPageWrite(reg.Index, writer); // registered between the two reads: a normal ring
                break;
        }
    }

    /// <inheritdoc />
    public bool TryRead(uint offset, int width, out ulong value)
    {
        lock (_commandLock)
        {
            bool found = true;
            value = offset switch
            {
                DoorbellRegisters.Index => _index,
                DoorbellRegisters.Status => (uint)_status,
                DoorbellRegisters.RegisteredCount => (uint)RegisteredCount,
                DoorbellRegisters.QueueDescriptor => _descriptor,
                DoorbellRegisters.SaveArea => _saveArea,
                DoorbellRegisters.Owner => _owner,
                DoorbellRegisters.Context => _context,
                DoorbellRegisters.Scheduling => _scheduling,
                DoorbellRegisters.TimeSlice => _timeSlice,
                DoorbellRegisters.State => _index < DoorbellVector.Count ? (uint)_registrations[_index].State : uint.MaxValue,
                DoorbellRegisters.UnregisteredWrites => (ulong)UnregisteredWrites,
                DoorbellRegisters.WrongOwnerWrites => (ulong)WrongOwnerWrites,
                DoorbellRegisters.FaultedWrites => (ulong)FaultedWrites,
                >= DoorbellRegisters.Pending0 and < DoorbellRegisters.Pending0 + 32 when (offset & 7) == 0 =>
                    Vector.PeekWord((int)((offset - DoorbellRegisters.Pending0) >> 3)),
                DoorbellRegisters.PendingSummary => Vector.PeekSummary(),
                DoorbellRegisters.SlotsPerEngine when Core is not null => (uint)Core.SlotsPerEngine,
                DoorbellRegisters.RunnableEngines when Core is not null => Core.RunnableEngineMask,
                DoorbellRegisters.QueueTimeout when Core is not null => Core.QueueTimeoutCycles,
                DoorbellRegisters.Services when Core is not null => (ulong)Core.Services,
                DoorbellRegisters.QueueFaults when Core is not null => (ulong)Core.QueueFaults,
                DoorbellRegisters.LastFault when Core is not null => Core.LastFaultRegister,
                _ => Miss(out found),
            };
            return found;
        }
    }

    private static ulong Miss(out bool found)
    {
        found = false;
        return ulong.MaxValue;
    }

    /// <inheritdoc />
    public bool TryWrite(uint offset, int width, ulong value)
    {
        lock (_commandLock)
        {
            switch (offset)
            {
                case DoorbellRegisters.Index: _index = (uint)value; return true;
                case DoorbellRegisters.QueueDescriptor: _descriptor = value; return true;
                case DoorbellRegisters.SaveArea: _saveArea = value; return true;
                case DoorbellRegisters.Owner: _owner = (uint)value; return true;
                case DoorbellRegisters.Context: _context = (uint)value; return true;
                case DoorbellRegisters.Scheduling: _scheduling = (uint)value; return true;
                case DoorbellRegisters.TimeSlice: _timeSlice = (uint)value; return true;
                case DoorbellRegisters.Command: _status = Execute((DoorbellCommand)(uint)value); return true;
                case DoorbellRegisters.QueueTimeout when Core is not null: Core.QueueTimeoutCycles = value; return true;
                default: return false;
            }
        }
    }

    private DoorbellStatus Execute(DoorbellCommand command)
    {
        switch (command)
        {
            case DoorbellCommand.Allocate:
                for (int i = 0; i < _registrations.Length; i++)
                    if (_registrations[i].State == DoorbellState.Free)
                    {
                        _index = (uint)i;
                        return DoorbellStatus.Ok;
                    }
                return DoorbellStatus.NoFreeDoorbell;
            case DoorbellCommand.Register:
                return RegisterStaged();
            case DoorbellCommand.Unregister:
                if (_index >= DoorbellVector.Count) return DoorbellStatus.BadIndex;
                if (_registrations[_index].State == DoorbellState.Free) return DoorbellStatus.NotRegistered;
                _registrations[_index].Free();
                Interlocked.Decrement(ref _registered);
                return DoorbellStatus.Ok;
            default:
                return DoorbellStatus.BadCommand;
        }
    }

    private DoorbellStatus RegisterStaged()
    {
        if (_index >= DoorbellVector.Count) return DoorbellStatus.BadIndex;
        var reg = _registrations[_index];
        if (reg.State != DoorbellState.Free) return DoorbellStatus.Busy;
        if (!PhysicalAddress.TryDecode(_descriptor, out var desc) || (desc.Offset & 63) != 0
            || !_memory.Contains(desc, RingDescriptor.SizeInBytes))
            return DoorbellStatus.BadDescriptorAddress;
        uint engine = _scheduling & 0xFF;
        if (engine >= Engines.Engines.Count) return DoorbellStatus.BadEngine;
        if ((_scheduling & ~0xFFFu) != 0) return DoorbellStatus.BadScheduling;
        if (_timeSlice == 0) return DoorbellStatus.BadTimeSlice;
        if (_saveArea != 0 && (!PhysicalAddress.TryDecode(_saveArea, out var sa) || sa.Location != MemoryLocation.Local
            || (sa.Offset & (Contexts.ContextSaveArea.Alignment - 1)) != 0 || !_memory.Contains(sa, Contexts.ContextSaveArea.SizeInBytes)))
            return DoorbellStatus.BadSaveArea;
        reg.Register(_owner, _context, desc, (EngineKind)engine, (byte)((_scheduling >> 8) & 0xF), _timeSlice, _saveArea);
        Interlocked.Increment(ref _registered);
        return DoorbellStatus.Ok;
    }

    /// <summary>Marks a doorbell's queue faulted (the scheduling core's or command processor's verdict).</summary>
    internal void Fault(int doorbell) => _registrations[doorbell].Fault();

    /// <summary>Releases the interrupt line's wait handle.</summary>
    public void Dispose() => Interrupt.Dispose();

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        lock (_commandLock)
        {
            foreach (var r in _registrations) r.Free(); // generations are kept: an engine never mistakes a new registration for an old one
            _registered = 0;
            Vector.SnapshotAndClear();
            _unregisteredWrites = _wrongOwnerWrites = _faultedWrites = 0;
            _index = _owner = _context = _scheduling = _timeSlice = 0;
            _descriptor = _saveArea = 0;
            _status = default;
        }
    }
}
