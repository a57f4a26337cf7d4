using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// VidMm programs the MMU block only through registers. These tests put VidMm on a bare register file with a
/// recording MMU block, so they check the exact register writes whatever MMU block the device attaches.
/// </summary>
public class MmuRegisterProgrammingTests
{
    private sealed class SizesBlock : IMmioBlock
    {
        public uint Base => MmioMap.DeviceBase;
        public uint Size => MmioMap.BlockSize;
        public bool TryRead(uint offset, int width, out ulong value)
        {
            value = offset switch { 0x18 => 4UL << 20, 0x20 => 4UL << 20, 0x28 => 64UL << 10, _ => 0 };
            return true;
        }
        public bool TryWrite(uint offset, int width, ulong value) => false;
    }

    private sealed class RecordingMmuBlock : IMmioBlock
    {
        public readonly List<(uint Offset, ulong Value)> Writes = new();
        public uint Base => MmioMap.MmuBase;
        public uint Size => 0x200;
        public bool TryRead(uint offset, int width, out ulong value) { value = 0; return false; }
        public bool TryWrite(uint offset, int width, ulong value) { Writes.Add((offset, value)); return true; }
    }

    // A bus over the bare register file (no device behind it): VidMm's register accesses arrive exactly as written.
    private sealed class RegisterFileBus(MmioRegisterFile registers, DeviceMemory memory) : IDeviceBus
    {
        public DeviceMemory Memory => memory;
        public DoorbellAperture Doorbells => throw new NotSupportedException("no doorbell BAR on this bus");
        public ulong Cycle => 0;
        public uint ReadRegister32(uint offset) => registers.Read32(offset);
        public ulong ReadRegister(uint offset) => registers.Read64(offset);
        public void WriteRegister(uint offset, ulong value) => registers.Write64(offset, value);
        public void WriteRegister32(uint offset, uint value) => registers.Write32(offset, value);
        public void Kick() { }
    }

    private static (VideoMemoryManager, RecordingMmuBlock, DeviceMemory) Create()
    {
        var mmio = new MmioRegisterFile();
        mmio.Attach(new SizesBlock());
        var mmu = new RecordingMmuBlock();
        mmio.Attach(mmu);
        var memory = DeviceMemory.Allocate(4 << 20, 4 << 20);
        return (new VideoMemoryManager(new RegisterFileBus(mmio, memory)), mmu, memory);
    }

    [Test]
    public void Startup_PointsApertureTableAndEntriesAtTheTableInLocalMemory()
    {
        var (vm, mmu, memory) = Create();
        using var _ = memory;
        Assert.That(mmu.Writes, Does.Contain((0x08u, vm.Aperture.TableAddress.Encoded)));
        Assert.That(mmu.Writes, Does.Contain((0x10u, 16UL)));
        Assert.That(vm.Aperture.TableAddress.Location, Is.EqualTo(MemoryLocation.Local));
    }

    [Test]
    public void GpuUnmap_InvalidatesExactlyTheRange_ThroughTlbRegisters()
    {
        var (vm, mmu, memory) = Create();
        using var _ = memory;
        var space = vm.CreateGpuAddressSpace();
        var h = vm.Allocate(3 * 4096);
        ulong va = space.MapAllocation(h);
        mmu.Writes.Clear();
        space.UnmapAllocation(va);
        Assert.That(mmu.Writes, Is.EqualTo(new[] { (0x20u, (ulong)space.Asid), (0x28u, va), (0x30u, 3UL), (0x38u, 1UL) }));
    }

    [Test]
    public void ApertureChanges_AreFollowedByAnApertureTlbInvalidate()
    {
        var (vm, mmu, memory) = Create();
        using var _ = memory;
        var cpu = vm.CreateCpuAddressSpace();
        var h = vm.Allocate(2 * 4096, placement: PlacementHint.LocalOnly);
        mmu.Writes.Clear();
        ulong va = vm.MapToCpu(cpu, h, 0, 2 * 4096, CpuAddressHalf.User);
        Assert.That(mmu.Writes, Is.EqualTo(new[] { (0x38u, 3UL) }));
        mmu.Writes.Clear();
        vm.UnmapFromCpu(cpu, va);
        Assert.That(mmu.Writes, Is.EqualTo(new[] { (0x38u, 3UL) }));
    }
}
