using System.Runtime.InteropServices;
using Coproc.Fast.Device.Bus;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.SampleHost;

/// <summary>What the sample's guest driver observed.</summary>
/// <param name="Id">The ID register read through BAR0.</param>
/// <param name="FirstFence">The fence value the first batch's interrupt carried.</param>
/// <param name="ContinuedFence">The second batch's fence, continuing the device that was snapshotted.</param>
/// <param name="RestoredFence">The second batch's fence, continuing the restored snapshot instead.</param>
/// <param name="ContinuedWord">The word the second batch wrote to local memory (continued run).</param>
/// <param name="RestoredWord">The same word in the restored run.</param>
/// <param name="CycleAfterReset">CYCLE read through BAR0 right after the guest wrote RESET.</param>
/// <param name="FenceAfterReset">The fence of the batch run again after the reset.</param>
/// <param name="PageFaults">PAGE_FAULT interrupts the guest handled (one: the unmapped page).</param>
/// <param name="FenceAfterRepair">The faulting batch's fence after the driver mapped the page and cleared Faulted.</param>
/// <param name="RepairedWord">The word the faulting packet wrote once re-executed.</param>
/// <param name="DoorbellRegisterStatus">DB_STATUS after registering the user queue (0 = Ok).</param>
/// <param name="DoorbellFence">The user queue's fence interrupt value after the doorbell rang.</param>
/// <param name="DoorbellWord">The word the user queue wrote (into guest RAM above the hole).</param>
/// <param name="DirtyHighPages">Pages of the high RAM range the device reported writing (the queue's ReadPtr and word).</param>
public readonly record struct SampleResult(uint Id, ulong FirstFence, ulong ContinuedFence, ulong RestoredFence, uint ContinuedWord,
    uint RestoredWord, ulong CycleAfterReset, ulong FenceAfterReset, int PageFaults, ulong FenceAfterRepair, uint RepairedWord,
    uint DoorbellRegisterStatus, ulong DoorbellFence, uint DoorbellWord, int DirtyHighPages)
{
    /// <summary>True when every step did what native-layout.md says.</summary>
    public bool Succeeded => Id != 0 && FirstFence == 1 && ContinuedFence == 2 && RestoredFence == 2 && ContinuedWord == RestoredWord
                             && ContinuedWord == 0x5A5A_5A5A && CycleAfterReset == 0 && FenceAfterReset == 1
                             && PageFaults == 1 && FenceAfterRepair == 3 && RepairedWord == 0x7777_7777
                             && DoorbellRegisterStatus == 0 && DoorbellFence == 9 && DoorbellWord == 0xD00B_E11 && DirtyHighPages == 2;
}

/// <summary>
/// A small machine: guest RAM in two ranges around a hole (16 MiB at guest-physical 0 and 8 MiB at 4 GiB), both the
/// device's system memory (native-layout.md §20.6), the coprocessor as a PCI function, and a guest driver that reaches it
/// only through guest-physical loads and stores decoded by the bus (configuration space, BARs) and the constants of
/// native-layout.md. The machine tracks which guest pages the device dirtied (<see cref="IGuestRamWriteObserver"/>).
/// </summary>
public sealed class SampleMachine : IDisposable, IInterruptLine, IGuestRamWriteObserver
{
    private const ulong LowRamBytes = 16UL << 20, HighRamBase = 1UL << 32, HighRamBytes = 8UL << 20;
    private const ulong RegistersAt = 0xFE00_0000, LocalBarAt = 0x2_0000_0000, DoorbellsAt = 0xFD00_0000;

    private readonly NativeRegion _lowRam = NativeRegion.Allocate(LowRamBytes);
    private readonly NativeRegion _highRam = NativeRegion.Allocate(HighRamBytes);
    private readonly Coprocessor _device;
    private bool _pin;

    /// <summary>Builds the machine; firmware programs BAR0 and BAR3–4 and enables memory space (native-layout.md §20.7).</summary>
    public SampleMachine()
    {
        // Guest RAM is the machine's; the device gets views of it (disposing the device does not free it).
        _device = new Coprocessor(
            new CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = LowRamBytes + HighRamBytes, VsyncPeriodCycles = 0 },
            [new GuestRamRange(0, View(_lowRam)), new GuestRamRange(HighRamBase, View(_highRam))]);
        _device.Memory.WriteObserver = this;
        Bus = new CoprocBusDevice(_device) { InterruptLine = this };
        static int Bar(int slot) => PciConfigSpace.Bar0Offset + slot * 4;
        Bus.Config.Write(Bar(CoprocBusDevice.RegistersBar), 4, (uint)RegistersAt);
        Bus.Config.Write(Bar(CoprocBusDevice.LocalMemoryBar), 4, unchecked((uint)LocalBarAt));
        Bus.Config.Write(Bar(CoprocBusDevice.LocalMemoryBar + 1), 4, (uint)(LocalBarAt >> 32));
        Bus.Config.Write(Bar(CoprocBusDevice.DoorbellBar), 4, (uint)DoorbellsAt);
        Bus.Config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
    }

    /// <summary>The device as the bus sees it.</summary>
    public CoprocBusDevice Bus { get; }

    /// <summary>The interrupt pin (INTA) level.</summary>
    public void SetLevel(bool asserted) => _pin = asserted;

    private static unsafe NativeRegion View(NativeRegion ram) => NativeRegion.Wrap(ram.Base, ram.Length);

    /// <summary>Guest pages (guest-physical page numbers) the device has written: the machine's dirty log.</summary>
    public HashSet<ulong> DirtyPages { get; } = [];

    /// <summary>Dirty tracking: the device wrote guest RAM.</summary>
    public void DeviceWrote(ulong guestPhysicalAddress, ulong length)
    {
        for (ulong page = guestPhysicalAddress >> 12; page <= (guestPhysicalAddress + length - 1) >> 12; page++) DirtyPages.Add(page);
    }

    /// <summary>A guest-physical load of 4 or 8 bytes.</summary>
    public ulong Load(ulong address, int width)
    {
        if (Bus.Config.TryDecode(address, out int bar, out ulong offset)) return Bus.ReadBar(bar, offset, width);
        var ram = Ram(address, out ulong o);
        return width == 8 ? ram.Ref<ulong>(o) : ram.Ref<uint>(o);
    }

    /// <summary>A guest-physical store of 4 or 8 bytes.</summary>
    public void Store(ulong address, int width, ulong value)
    {
        if (Bus.Config.TryDecode(address, out int bar, out ulong offset)) { Bus.WriteBar(bar, offset, width, value); return; }
        var ram = Ram(address, out ulong o);
        if (width == 8) ram.Ref<ulong>(o) = value; else ram.Ref<uint>(o) = (uint)value;
    }

    private NativeRegion Ram(ulong address, out ulong offset)
    {
        if (address < LowRamBytes) { offset = address; return _lowRam; }
        if (address - HighRamBase < HighRamBytes) { offset = address - HighRamBase; return _highRam; }
        throw new InvalidOperationException($"guest-physical 0x{address:X} is not RAM");
    }

    /// <summary>Frees the device and guest RAM.</summary>
    public void Dispose()
    {
        _device.Dispose();
        _lowRam.Dispose();
        _highRam.Dispose();
    }

    // ------------------------------------------------------------------ the guest driver (native-layout.md only)

    private const ulong RingRam = 0x10_0000, DescriptorRam = 0x0F_F000, FenceRam = 0x0F_E000;   // low guest RAM
    private const ulong StagingHigh = HighRamBase + 0x1000;                                      // high guest RAM
    private const ulong Root = 0x1000, Level2 = 0x2000, Level1 = 0x3000, Level0 = 0x4000, SaveArea = 0x8000, DataPage = 0x10_000;
    private const ulong DataVa = 0x4000_0000;
    private ulong _writePtr;
    private int _pageFaults;

    private void PowerOn()
    {
        void Local64(ulong offset, ulong value) => Store(LocalBarAt + offset, 8, value);
        Local64(Root + (ulong)PageTableLayout.IndexAt(DataVa, 3) * 8, PageTableEntry.Create(MemoryLocation.Local, Level2).Raw);
        Local64(Level2 + (ulong)PageTableLayout.IndexAt(DataVa, 2) * 8, PageTableEntry.Create(MemoryLocation.Local, Level1).Raw);
        Local64(Level1 + (ulong)PageTableLayout.IndexAt(DataVa, 1) * 8, PageTableEntry.Create(MemoryLocation.Local, Level0).Raw);
        Local64(Level0 + (ulong)PageTableLayout.IndexAt(DataVa, 0) * 8, PageTableEntry.Create(MemoryLocation.Local, DataPage, writable: true).Raw);
        var save = new ContextSaveArea
        {
            RingDescriptor = PhysicalAddress.System(DescriptorRam).Encoded, ContextId = 1,
            AddressSpace = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(Root), asid: 1, faultOnInvalid: true),
        };
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<ContextSaveArea>(in save));
        for (int i = 0; i < bytes.Length; i += 8) Local64(SaveArea + (ulong)i, BitConverter.ToUInt64(bytes[i..]));
        var desc = new RingDescriptor { Base = PhysicalAddress.System(RingRam).Encoded, SizeBytes = 4096, ContextId = 1 };
        var d = MemoryMarshal.AsBytes(new ReadOnlySpan<RingDescriptor>(in desc));
        for (int i = 0; i < d.Length; i += 8) Store(DescriptorRam + (ulong)i, 8, BitConverter.ToUInt64(d[i..]));
        _writePtr = 0;
        Store(RegistersAt + EngineRegisters.At(EngineKind.Render, EngineRegisters.ContextSwitch), 8, PhysicalAddress.Local(SaveArea).Encoded);
    }

    // Packets are built in the guest's high RAM (CPU-only staging), then copied into the ring in low RAM, and published
    // by WritePtr (native-layout.md §10.2).
    private void Submit(uint fill, ulong fence, bool touchSecondPage = false)
    {
        var packets = new uint[64];
        var w = new PacketWriter(packets);
        if (touchSecondPage) w.WriteData(DataVa + 0x1000, fill); // page 2 is not mapped until the driver repairs the fault
        else w.Fill(DataVa + 0x80, fill, 4096 - 0x80);
        w.PrivilegedFence(PhysicalAddress.System(FenceRam).Encoded, fence, interrupt: true);
        for (int i = 0; i < w.Written; i++) Store(StagingHigh + (ulong)i * 4, 4, packets[i]);
        for (int i = 0; i < w.Written; i++) Store(RingRam + _writePtr + (ulong)i * 4, 4, Load(StagingHigh + (ulong)i * 4, 4));
        _writePtr += (ulong)w.Written * 4;
        Store(DescriptorRam + (ulong)Marshal.OffsetOf<RingDescriptor>(nameof(RingDescriptor.WritePtr)), 8, _writePtr);
    }

    // Clocks the device in slices; the guest's interrupt handler drains INFO (native-layout.md §9) and returns the fence.
    private ulong RunUntilFence(int maxSlices = 200)
    {
        ulong ic = RegistersAt + MmioMap.InterruptBase;
        for (int slice = 0; slice < maxSlices; slice++)
        {
            Bus.Step(500);
            if (!_pin) continue;
            uint status = (uint)Load(ic + InterruptRegisters.Status, 4);
            ulong fence = 0;
            bool faulted = false;
            while (Load(ic + InterruptRegisters.InfoCount, 4) != 0)
            {
                var source = (InterruptSource)(Load(ic + InterruptRegisters.InfoSource, 4) & 0xFF);
                if (source == InterruptSource.Fence) fence = Load(ic + InterruptRegisters.InfoData0, 8);
                if (source == InterruptSource.PageFault) { _pageFaults++; faulted = true; }
                Store(ic + InterruptRegisters.InfoPop, 4, 1);
            }
            Store(ic + InterruptRegisters.Ack, 4, status);
            if (fence != 0 || faulted) return fence;
        }
        return 0;
    }

    /// <summary>Runs the sample: power on, a batch, a snapshot mid-batch continued two ways, a fault and its repair, a doorbell queue, a guest-initiated reset.</summary>
    public static SampleResult Run(TextWriter log)
    {
        using var m = new SampleMachine();
        uint id = (uint)m.Load(RegistersAt + MmioMap.DeviceBase + DeviceRegisters.Id, 4);
        log.WriteLine($"ID 0x{id:X8}, vendor 0x{m.Bus.Config.Read(0, 2):X4}");
        m.PowerOn();
        m.Submit(0x1111_1111, 1);
        ulong first = m.RunUntilFence();
        log.WriteLine($"batch 1: fence {first}");

        m.Submit(0x5A5A_5A5A, 2);
        m.Bus.Step(100);                                        // part-way through the second batch
        using var snapshot = new MemoryStream();
        m.Bus.SaveState(snapshot, includeSystemMemory: true);   // device, config space, local and system memory
        ulong continued = m.RunUntilFence();
        uint continuedWord = (uint)m.Load(LocalBarAt + DataPage + 0x80, 4);
        snapshot.Position = 0;
        m.Bus.RestoreState(snapshot);
        ulong restored = m.RunUntilFence();
        uint restoredWord = (uint)m.Load(LocalBarAt + DataPage + 0x80, 4);
        log.WriteLine($"batch 2: fence {continued} continued, {restored} after restoring the snapshot; word 0x{continuedWord:X8} / 0x{restoredWord:X8}");

        // A fault and its repair (native-layout.md §10.3): page 2 is unmapped; the engine faults the context, raises
        // PAGE_FAULT and switches away. The driver maps the page, clears Faulted in the save area and switches back: the
        // faulting packet re-executes.
        m.Submit(0x7777_7777, 3, touchSecondPage: true);
        ulong beforeRepair = m.RunUntilFence();
        void Local64(ulong offset, ulong value) => m.Store(LocalBarAt + offset, 8, value);
        Local64(Level0 + (ulong)PageTableLayout.IndexAt(DataVa + 0x1000, 0) * 8,
            PageTableEntry.Create(MemoryLocation.Local, DataPage + 0x1000, writable: true).Raw);
        ulong flagsWord = m.Load(LocalBarAt + SaveArea + 8, 8);   // +12 Flags is the high half (§11)
        Local64(SaveArea + 8, flagsWord & ~((ulong)ContextFlags.Faulted << 32));
        m.Store(RegistersAt + EngineRegisters.At(EngineKind.Render, EngineRegisters.ContextSwitch), 8, PhysicalAddress.Local(SaveArea).Encoded);
        ulong repaired = m.RunUntilFence();
        uint repairedWord = (uint)m.Load(LocalBarAt + DataPage + 0x1000, 4);
        log.WriteLine($"fault: {m._pageFaults} page fault(s), fence {beforeRepair} before the repair, {repaired} after; word 0x{repairedWord:X8}");

        // A doorbell queue (native-layout.md §13.3, §13.5, §13.7): a user-queue ring in guest RAM, its execution context in
        // local memory, registered through the doorbell block; the guest publishes packets, then WritePtr, then rings.
        // The queue's descriptor and ring live above the hole, and it writes its word there too (a page of high RAM mapped
        // at DataVa + 0x2000): the device reaches both ranges at their guest-physical addresses.
        ulong queueDesc = HighRamBase + 0x2000, queueRing = HighRamBase + 0x3000, queueSave = 0x9000, queueData = HighRamBase + 0x10_000;
        Local64(Level0 + (ulong)PageTableLayout.IndexAt(DataVa + 0x2000, 0) * 8,
            PageTableEntry.Create(MemoryLocation.System, queueData, writable: true).Raw);
        m.DirtyPages.Clear();
        var qsave = new ContextSaveArea
        {
            RingDescriptor = PhysicalAddress.System(queueDesc).Encoded, ContextId = 0x20,
            AddressSpace = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(Root), asid: 1, faultOnInvalid: true),
        };
        var qs = MemoryMarshal.AsBytes(new ReadOnlySpan<ContextSaveArea>(in qsave));
        for (int i = 0; i < qs.Length; i += 8) Local64(queueSave + (ulong)i, BitConverter.ToUInt64(qs[i..]));
        m.Store(queueDesc + 0, 8, PhysicalAddress.System(queueRing).Encoded);
        m.Store(queueDesc + 8, 4, 4096);
        m.Store(queueDesc + 12, 4, RingDescriptor.UserQueueFlag);
        m.Store(queueDesc + 16, 4, 0x20);
        ulong db = RegistersAt + MmioMap.DoorbellBase;
        m.Store(db + DoorbellRegisters.Command, 4, 3);                // DB_COMMAND Allocate
        uint doorbell = (uint)m.Load(db + DoorbellRegisters.Index, 4);
        m.Store(db + DoorbellRegisters.QueueDescriptor, 8, PhysicalAddress.System(queueDesc).Encoded);
        m.Store(db + DoorbellRegisters.Owner, 4, 0);                  // kernel
        m.Store(db + DoorbellRegisters.Context, 4, 0x20);
        m.Store(db + DoorbellRegisters.Scheduling, 4, 2 | 8 << 8);    // copy engine, priority 8
        m.Store(db + DoorbellRegisters.TimeSlice, 4, 10_000);
        m.Store(db + DoorbellRegisters.SaveArea, 8, PhysicalAddress.Local(queueSave).Encoded);
        m.Store(db + DoorbellRegisters.Command, 4, 1);                // DB_COMMAND Register
        uint registerStatus = (uint)m.Load(db + DoorbellRegisters.Status, 4);
        var qpackets = new uint[32];
        var qw = new PacketWriter(qpackets);
        qw.WriteData(DataVa + 0x2000 + 0x900, 0xD00B_E11u);
        qw.Fence(DataVa + 0x800, 9, interrupt: true);
        for (int i = 0; i < qw.Written; i++) m.Store(queueRing + (ulong)i * 4, 4, qpackets[i]);
        m.Store(queueDesc + RingDescriptor.WritePtrOffset, 8, (ulong)qw.Written * 4);
        m.Store(DoorbellsAt + doorbell * 0x1000UL, 4, (uint)(qw.Written * 4)); // ring it
        ulong doorbellFence = m.RunUntilFence();
        uint doorbellWord = (uint)m.Load(queueData + 0x900, 4);
        int dirtyHigh = m.DirtyPages.Count(p => p >= HighRamBase >> 12);
        log.WriteLine($"doorbell {doorbell}: register status {registerStatus}, fence {doorbellFence}, word 0x{doorbellWord:X8}; " +
                      $"device dirtied {dirtyHigh} page(s) above the hole");

        m.Store(RegistersAt + MmioMap.DeviceBase + DeviceRegisters.Reset, 4, DeviceRegisters.ResetKey);
        ulong cycle = m.Load(RegistersAt + MmioMap.DeviceBase + DeviceRegisters.Cycle, 8);
        m.PowerOn();
        m.Submit(0x2222_2222, 1);
        ulong again = m.RunUntilFence();
        log.WriteLine($"reset: CYCLE {cycle}; batch 1 again: fence {again}");

        var result = new SampleResult(id, first, continued, restored, continuedWord, restoredWord, cycle, again,
            m._pageFaults, repaired, repairedWord, registerStatus, doorbellFence, doorbellWord, dirtyHigh);
        log.WriteLine(result.Succeeded ? "sample host: OK" : "sample host: FAILED");
        return result;
    }
}
