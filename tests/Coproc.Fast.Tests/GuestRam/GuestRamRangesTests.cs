using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.GuestRam;

/// <summary>
/// System memory as guest RAM in several guest-physical ranges (native-layout.md §20.6): DMA reaches each range at its
/// guest-physical address, runs split at range boundaries, holes and boundary-crossing physical accesses fault the context.
/// </summary>
public sealed unsafe class GuestRamRangesTests
{
    private const ulong Low = 1UL << 20, HighBase = 4UL << 30, High = 1UL << 20;
    private NativeRegion _low = null!, _high = null!; // the "host's" RAM: owned here, wrapped for the device
    private EngineTestMachine _m = null!;
    private TestAddressSpace _space = null!;
    private EngineContext _ctx = null!;

    [SetUp]
    public void SetUp() => Build([(0, Low), (HighBase, High)]);

    [TearDown]
    public void TearDown()
    {
        _m.Dispose();
        _low.Dispose();
        _high.Dispose();
    }

    private void Build((ulong Address, ulong Bytes)[] layout)
    {
        _low = NativeRegion.Allocate(layout[0].Bytes);
        _high = NativeRegion.Allocate(layout[1].Bytes);
        var device = new Coprocessor(
            new CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = layout[0].Bytes + layout[1].Bytes, VsyncPeriodCycles = 0 },
            [new GuestRamRange(layout[1].Address, NativeRegion.Wrap(_high.Base, _high.Length)),
             new GuestRamRange(layout[0].Address, NativeRegion.Wrap(_low.Base, _low.Length))]);
        _m = new EngineTestMachine(device);
        _space = _m.NewAddressSpace();
        _ctx = _m.NewContext(_space, id: 3);
    }

    private void Run(PacketBuild build)
    {
        _ctx.Submit(build);
        _m.SwitchTo(EngineKind.Copy, _ctx);
        _m.RunUntilIdle();
    }

    private FaultRecord FaultOf() => _m.ReadSaveArea(_ctx).Fault;

    [Test]
    public void GivenRamInTwoRanges_WhenPagesOfEachAreMapped_ThenWritesLandAtTheirGuestPhysicalAddresses()
    {
        ulong va = 0x200000;
        _space.Map(va, PhysicalAddress.System(0x3000), 1);
        _space.Map(va + 4096, PhysicalAddress.System(HighBase + 0x5000), 1);
        Run((ref PacketWriter w) =>
        {
            w.WriteData(va + 16, [0xA1A2A3A4u]);
            w.WriteData(va + 4096 + 32, [0xB1B2B3B4u]);
            w.Fill(va + 4096 + 64, 0x5A5A5A5Au, 100);
        });
        Assert.That(_ctx.ReadPtr, Is.EqualTo(_ctx.WritePtr), "the ring retired without a fault");
        Assert.That(_low.Ref<uint>(0x3000 + 16), Is.EqualTo(0xA1A2A3A4u));
        Assert.That(_high.Ref<uint>(0x5000 + 32), Is.EqualTo(0xB1B2B3B4u));
        Assert.That(_high.Ref<byte>(0x5000 + 64 + 99), Is.EqualTo(0x5A));
        Assert.That(_high.Ref<byte>(0x5000 + 64 + 100), Is.Zero);
    }

    [Test]
    public void GivenAPageInTheHole_WhenWritten_ThenTheContextFaultsPhysicalOutOfRange_AndNothingIsThrown()
    {
        ulong va = 0x200000;
        _space.Map(va, PhysicalAddress.System(2UL << 30), 1); // between the ranges
        Run((ref PacketWriter w) => w.WriteData(va, [1u]));
        var f = FaultOf();
        Assert.That(f.Reason, Is.EqualTo(FaultReason.PhysicalOutOfRange));
        Assert.That(f.Address, Is.EqualTo(va));
        Assert.That((_m.ReadSaveArea(_ctx).Flags & ContextFlags.Faulted) != 0);
    }

    [Test]
    public void GivenAdjacentRanges_WhenACopyRunsAcrossTheBoundary_ThenEachByteLandsInItsOwnHostBlock()
    {
        _m.Dispose(); _low.Dispose(); _high.Dispose();
        Build([(0, 64 * 1024), (64 * 1024, 64 * 1024)]); // guest-physically contiguous, two host blocks
        ulong src = _space.Alloc(3 * 4096), dst = 0x400000;
        _space.Map(dst, PhysicalAddress.System(60 * 1024), 3); // frames 60K, 64K, 68K: contiguous across the boundary
        var data = new byte[3 * 4096 - 10];
        new Random(9).NextBytes(data);
        _space.WriteBytes(src, data);
        Run((ref PacketWriter w) => w.Copy(dst + 5, src, (ulong)data.Length));
        Assert.That(FaultOf().Reason, Is.EqualTo(FaultReason.None));
        Assert.That(_low.Slice(60 * 1024 + 5, 4096 - 5).ToArray(), Is.EqualTo(data[..(4096 - 5)]));
        Assert.That(_high.Slice(0, data.Length - (4096 - 5)).ToArray(), Is.EqualTo(data[(4096 - 5)..]));
    }

    [Test]
    public void GivenAdjacentRanges_WhenAPhysicalWriteCrossesTheBoundary_ThenTheContextFaultsPhysicalOutOfRange()
    {
        _m.Dispose(); _low.Dispose(); _high.Dispose();
        Build([(0, 64 * 1024), (64 * 1024, 64 * 1024)]);
        ulong target = PhysicalAddress.System(64 * 1024 - 8).Encoded; // 4 entries: 2 in each block
        Run((ref PacketWriter w) => w.UpdatePageTable(target, [1UL, 2UL, 3UL, 4UL]));
        Assert.That(FaultOf().Reason, Is.EqualTo(FaultReason.PhysicalOutOfRange));
        Assert.That(_low.Ref<ulong>(64 * 1024 - 8), Is.Zero, "nothing written");
        Assert.That(_high.Ref<ulong>(0), Is.Zero, "nothing written");
    }

    [Test]
    public void GivenRamInTwoRanges_WhenSystemSizeIsRead_ThenItIsTheEndOfTheHighestRange()
    {
        Assert.That(_m.Device.Memory.SystemEnd, Is.EqualTo(HighBase + High));
        Assert.That(_m.Device.Mmio.Read64(Device.Mmio.MmioMap.DeviceBase + DeviceRegisters.SystemSize), Is.EqualTo(HighBase + High));
        Assert.That(_m.Device.Memory.SystemBytes, Is.EqualTo(Low + High));
    }

    [Test]
    public void GivenOverlappingMisalignedOrMiscountedRanges_WhenTheDeviceIsCreated_ThenArgumentExceptionNamesTheProblem()
    {
        var opts = new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 8192 };
        Assert.Throws<ArgumentException>(() => new Coprocessor(opts,
            [new GuestRamRange(0, NativeRegion.Wrap(_low.Base, 4096)), new GuestRamRange(0, NativeRegion.Wrap(_high.Base, 4096))]));
        Assert.Throws<ArgumentException>(() => new Coprocessor(opts,
            [new GuestRamRange(0x800, NativeRegion.Wrap(_low.Base, 8192))]));
        Assert.Throws<ArgumentException>(() => new Coprocessor(opts, [new GuestRamRange(0, NativeRegion.Wrap(_low.Base, 4096))]));
        Assert.Throws<ArgumentException>(() => new Coprocessor(opts, Array.Empty<GuestRamRange>()));
    }

    [Test]
    public void GivenRamInTwoRanges_WhenSavedWithSystemMemoryAndRestored_ThenBothRangesComeBack()
    {
        _low.Ref<ulong>(0x100) = 0x1111;
        _high.Ref<ulong>(0x200) = 0x2222;
        using var state = new MemoryStream();
        _m.Device.SaveState(state, includeSystemMemory: true);
        _low.Ref<ulong>(0x100) = 0;
        _high.Ref<ulong>(0x200) = 0;
        state.Position = 0;
        _m.Device.RestoreState(state);
        Assert.That(_low.Ref<ulong>(0x100), Is.EqualTo(0x1111UL));
        Assert.That(_high.Ref<ulong>(0x200), Is.EqualTo(0x2222UL));
    }
}
