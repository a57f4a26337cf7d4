using System.Diagnostics.CodeAnalysis;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Display;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Device.Core;

/// <summary>
/// The emulated coprocessor: memories, register BAR and the parts behind it. The hardware interface —
/// MMIO, memory and the interrupt line — is everything a driver or a host emulator may touch
/// (native-layout.md). Nothing here reads wall-clock time: the device advances only in <see cref="Step"/>.
/// </summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed partial class Coprocessor : IDisposable
{
    private readonly CommandProcessor[] _engines;
    private readonly MmuRegisterBlock _mmuRegisters;
    private uint _vsyncPeriodSeen;  // the period _nextVsync was computed for (0: none yet)
    private ulong _nextVsync;       // the first multiple of _vsyncPeriodSeen after Cycle (when computed)
    private bool _disposed;         // memory freed: Step, Reset and save-state throw ObjectDisposedException

    /// <summary>Host: creates a device that allocates its own local and system memory.</summary>
    public Coprocessor(CoprocessorOptions? options = null) : this(options ?? new CoprocessorOptions(), (NativeRegion?)null) { }

    /// <summary>
    /// Host: creates a device. With <paramref name="hostSystemMemory"/> (a host emulator's guest RAM, 4 KiB aligned) the device's
    /// system memory is that region at guest-physical address 0, used in place — the host keeps it alive and its length
    /// must equal <see cref="CoprocessorOptions.SystemMemoryBytes"/>; with null the device allocates system memory itself.
    /// Local memory is always allocated by the device (native-layout.md §1).
    /// </summary>
    /// <exception cref="ArgumentException">The host region's length differs from <see cref="CoprocessorOptions.SystemMemoryBytes"/>.</exception>
    public Coprocessor(CoprocessorOptions options, NativeRegion? hostSystemMemory)
        : this(options, hostSystemMemory is null ? null : [new GuestRamRange(0, hostSystemMemory)], nameof(hostSystemMemory)) { }

    /// <summary>
    /// Host: creates a device whose system memory is a host emulator's guest RAM in one or more ranges at guest-physical
    /// addresses (native-layout.md §20.6), e.g. RAM below and above a PCI hole. The device reads and writes the ranges in
    /// place; a system-memory physical address (in a page-table entry, ring descriptor, register) is a guest-physical
    /// address, and one in a hole or across a range boundary faults the context that used it. The lengths must add up
    /// to <see cref="CoprocessorOptions.SystemMemoryBytes"/>.
    /// </summary>
    /// <exception cref="ArgumentException">No range; a range not 4 KiB aligned, reaching 2^48 or overlapping another; or
    /// the lengths do not add up to <see cref="CoprocessorOptions.SystemMemoryBytes"/>.</exception>
    public Coprocessor(CoprocessorOptions options, IReadOnlyList<GuestRamRange> guestRam)
        : this(options, guestRam ?? throw new ArgumentNullException(nameof(guestRam)), nameof(guestRam)) { }

    private Coprocessor(CoprocessorOptions options, IReadOnlyList<GuestRamRange>? guestRam, string parameter)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (guestRam is not null)
        {
            ulong total = 0;
            foreach (var r in guestRam) total += r.Memory?.Length ?? 0;
            if (total != options.SystemMemoryBytes)
                throw new ArgumentException(
                    $"the host's system memory is 0x{total:X} bytes but SystemMemoryBytes is 0x{options.SystemMemoryBytes:X}; they must be equal",
                    parameter);
        }
        Options = options;
        var local = NativeRegion.Allocate(options.LocalMemoryBytes);
        try
        {
            Memory = guestRam is null
                ? new DeviceMemory(local, NativeRegion.Allocate(options.SystemMemoryBytes))
                : new DeviceMemory(local, guestRam, ownsSystemRanges: false); // the host's guest RAM: never freed by Dispose
        }
        catch (ArgumentException e)
        {
            local.Dispose();
            throw new ArgumentException(e.Message, parameter, e);
        }
        Mmu = new GpuMmu(Memory);
        LocalMemoryBar = new LocalMemoryBar(Memory);
        Aperture = new Aperture(Memory, Mmu, options.ApertureBytes);
        Mmio = new MmioRegisterFile();
        Interrupts = new InterruptController();
        Mmio.InLineCallback = () => Interrupts.InLineCallback;
        Display = new DisplayController(Memory, Interrupts, options.VsyncPeriodCycles);
        Tlbs = new EngineTlbs(Mmu, options.EngineTlbEntries);
        RunLists = new RunListControl(Memory);
        _engines = new CommandProcessor[Engines.Engines.Count];
        for (int i = 0; i < _engines.Length; i++)
            _engines[i] = new CommandProcessor((EngineKind)i, Memory, Mmu, Tlbs, Interrupts, Display, Mmio, options.PacketCosts, options.WorkCosts, RunLists);
        Mmio.Attach(new DeviceIdentityBlock(this));
        DoorbellBlock = new DoorbellBlock(Memory);
        SchedulingCore = new SchedulingCore(Memory, DoorbellBlock, options.HardwareSlotsPerEngine);
        // seed 003: the engines execute the scheduling core's run lists (native-layout.md §13.7).
        if (options.UserQueuesOnEngines) foreach (var e in _engines) e.AttachUserQueues(SchedulingCore);
        DoorbellAperture = new DoorbellAperture(DoorbellBlock);
        Mmio.Attach(DoorbellBlock);
        Mmio.Attach(_mmuRegisters = new MmuRegisterBlock(Mmu, Aperture));
        Mmio.Attach(Interrupts);
        Mmio.Attach(new EngineRegisterBlock(_engines));
        Mmio.Attach(Display);
        Mmio.Attach(new RunListBlock(_engines, RunLists));
    }

    /// <summary>Run-list mode and the history buffer (native-layout.md §10.5–§10.6).</summary>
    internal RunListControl RunLists { get; }

    /// <summary>Host: the options the device was built with.</summary>
    public CoprocessorOptions Options { get; }

    /// <summary>Host: local and system memory.</summary>
    public DeviceMemory Memory { get; }

    /// <summary>
    /// Host: the local-memory BAR: local memory identity-mapped for the CPU from reset (native-layout.md §1.1) — the power-on
    /// path a guest driver uses to write its first structures into local memory.
    /// </summary>
    public LocalMemoryBar LocalMemoryBar { get; }

    /// <summary>The GPU MMU that walks page tables in <see cref="Memory"/>.</summary>
    internal GpuMmu Mmu { get; }

    /// <summary>
    /// Host: the CPU-visible aperture window onto local memory (seed 001 §12), programmed through the MMU registers
    /// (APERTURE_TABLE, APERTURE_ENTRIES, TLB_INV_CMD 3). This is the host/CPU side of the bus.
    /// </summary>
    public Aperture Aperture { get; }

    /// <summary>Host: the register BAR.</summary>
    public MmioRegisterFile Mmio { get; }

    /// <summary>The doorbell block (seed 003); its registers are at <see cref="MmioMap.DoorbellBase"/>.</summary>
    internal DoorbellBlock DoorbellBlock { get; }

    /// <summary>Host: the doorbell aperture BAR: 256 doorbell pages (native-layout.md §13.1).</summary>
    public DoorbellAperture DoorbellAperture { get; }

    /// <summary>The scheduling core: services doorbells and keeps the engines' run lists (internal: reached by software
    /// only through the doorbell registers and BAR, native-layout.md §13).</summary>
    internal SchedulingCore SchedulingCore { get; }

    /// <summary>
    /// Host: the interrupt controller's output — connect your pin to <see cref="InterruptController.Line"/> (native-layout.md
    /// §9, §20.2). Its registers are read and written through <see cref="Mmio"/>, like a guest driver does.
    /// </summary>
    public InterruptController Interrupts { get; }

    /// <summary>The display controller.</summary>
    internal DisplayController Display { get; }

    /// <summary>The engines' TLBs (one per engine).</summary>
    internal EngineTlbs Tlbs { get; }

    /// <summary>The command processor of an engine.</summary>
    internal CommandProcessor Engine(EngineKind kind) => _engines[(int)kind];

    /// <summary>Host: device clock: cycles run so far.</summary>
    public ulong Cycle { get; private set; }

    /// <summary>Host: device internal errors contained so far (INTERNAL_ERRORS, native-layout.md §6.1, §10.3).</summary>
    public long InternalErrors
    {
        get
        {
            long n = 0;
            foreach (var e in _engines) n += e.InternalErrors;
            return n;
        }
    }

    /// <summary>
    /// Host: WORK_PENDING (native-layout.md §6.1): bit e when engine e holds work (<see cref="CommandProcessor.HoldsWork"/>),
    /// <see cref="DeviceRegisters.WorkPendingUserQueues"/> when a doorbell is pending or a scheduling-core run list holds a
    /// queue, <see cref="DeviceRegisters.WorkPendingFlipLatched"/> while a vsync flip is latched. Zero means stepping the
    /// device changes nothing but CYCLE and vsync: a host may stop stepping it until its next register or memory write.
    /// </summary>
    public uint WorkPending
    {
        get
        {
            uint mask = 0;
            for (int i = 0; i < _engines.Length; i++)
                if (_engines[i].HoldsWork) mask |= 1u << i;
            if (DoorbellBlock.Vector.AnyPending || SchedulingCore.RunnableEngineMask != 0) mask |= DeviceRegisters.WorkPendingUserQueues;
            if (Display.FlipPending) mask |= DeviceRegisters.WorkPendingFlipLatched;
            return mask;
        }
    }

    /// <summary>Host: capability bits reported in the CAPS register (native-layout.md).</summary>
    [SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "Public instance API: the CAPS register value of this device (native-layout.md); static would break callers that read it from an instance.")]
    public uint Capabilities => 0;

    /// <summary>
    /// Host: advances the device by <paramref name="cycles"/>: the engines run in engine order over the same span of
    /// time, split at vsync boundaries so that flips latch and WAIT_FOR_FLIP releases at the exact cycle.
    /// Deterministic: the same state and the same sequence of steps give the same bytes, cycles and interrupts. CYCLE never
    /// wraps: a step past 2^64 − 1 stops there.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The device is disposed (its memory is freed).</exception>
    public void Step(ulong cycles)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // CYCLE only grows: a step past the end of the 64-bit clock stops at its end instead of wrapping round to 0.
        if (cycles > ulong.MaxValue - Cycle) cycles = ulong.MaxValue - Cycle;
        while (cycles > 0)
        {
            ulong slice = cycles;
            uint period = Display.VsyncPeriod;
            ulong toVsync = 0;
            if (period != 0)
            {
                // Design: the next vsync boundary (the first multiple of the period after Cycle) is cached while the
                // period is unchanged — Cycle only grows, here — saving a 64-bit division per Step.
                if (period != _vsyncPeriodSeen || Cycle >= _nextVsync)
                {
                    _vsyncPeriodSeen = period;
                    _nextVsync = Cycle + (period - Cycle % period);
                }
                toVsync = _nextVsync - Cycle;
                if (toVsync < slice) slice = toVsync;
            }
            ulong end = Cycle + slice;
            long budget = slice > long.MaxValue / 64 ? long.MaxValue / 64 : (long)slice;
            // Doorbells rung since the last slice are serviced by the scheduling core first (seed 003).
            SchedulingCore.SliceCycle = Cycle; // fault records of this slice carry its cycle
            if (DoorbellBlock.Vector.AnyPending) SchedulingCore.Service(Cycle);
            for (int i = 0; i < _engines.Length; i++)
            {
                // Defence in depth (native-layout.md §10.3 "Device internal error"): the engines keep their invariants
                // by construction; whatever still escapes one is contained on that engine, never thrown into the host.
                // An exception thrown by the host's own IInterruptLine.SetLevel or IGuestRamWriteObserver is the host's and
                // passes through.
                try { _engines[i].Run(budget, end); }
                catch (Exception) when (!Interrupts.InLineCallback && !Memory.InObserverCallback) { _engines[i].ContainInternalError(end); }
            }
            Cycle = end;
            cycles -= slice;
            if (period != 0 && slice == toVsync) Display.Vsync(Cycle);
        }
    }

    /// <summary>
    /// Host: device reset (native-layout.md §20.3; the RESET register does the same): every register, engine, TLB, run list,
    /// doorbell registration, the scheduling core, the display, the interrupt controller (line deasserted) and CYCLE return
    /// to their power-on values. Memory — local and system — is not touched; the objects this device handed out
    /// (<see cref="Mmio"/>, <see cref="Aperture"/>, <see cref="DoorbellAperture"/>, <see cref="LocalMemoryBar"/>,
    /// <see cref="Interrupts"/> and its <see cref="InterruptController.Line"/>) stay valid. Call it between steps, never from
    /// inside <see cref="Step"/> or an <see cref="IInterruptLine.SetLevel"/> callback (§20.4).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The device is disposed.</exception>
    public void Reset()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var e in _engines) e.Reset();
        RunLists.Reset();
        SchedulingCore.Reset();
        DoorbellBlock.Reset();
        DoorbellAperture.Reset();
        Display.Reset(Options.VsyncPeriodCycles);
        Aperture.Reset();
        Mmu.Reset();
        _mmuRegisters.Reset();
        Mmio.Reset();
        Cycle = 0;
        _vsyncPeriodSeen = 0;
        _nextVsync = 0;
        ResetCount++;
        Interrupts.Reset();
    }

    /// <summary>Host: resets since creation (not itself reset).</summary>
    public long ResetCount { get; private set; }

    /// <summary>
    /// Host: the first device cycle at which stepping can change anything (native-layout.md §20.5): <see cref="Cycle"/> when
    /// <see cref="WorkPending"/> has an engine or user-queue bit; else the next vsync boundary when vsync is on; else
    /// <see cref="ulong.MaxValue"/> — only a register or memory write can create work. A host may advance an idle device
    /// in one <c>Step(NextEventCycle - Cycle)</c> (Step splits at vsync itself) or not step it at all until then; the
    /// bytes, interrupts and cycles are the same as stepping it in small slices.
    /// </summary>
    public ulong NextEventCycle
    {
        get
        {
            if ((WorkPending & ~DeviceRegisters.WorkPendingFlipLatched) != 0) return Cycle;
            uint period = Display.VsyncPeriod;
            return period == 0 ? ulong.MaxValue : Cycle + (period - Cycle % period);
        }
    }

    /// <summary>Host: frees device-owned memory (never the host's guest RAM). Idempotent; afterwards <see cref="Step"/>,
    /// <see cref="Reset"/>, <see cref="SaveState(Stream, bool)"/> and <see cref="RestoreState(Stream)"/> throw
    /// <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        _disposed = true;
        DoorbellBlock.Dispose();
        Memory.Dispose();
    }
}
