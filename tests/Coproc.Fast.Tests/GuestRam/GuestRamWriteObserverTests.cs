using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.GuestRam;

/// <summary>
/// The host's guest-RAM write observer (native-layout.md §20.6): every byte the device writes to system memory is
/// reported (guest-physical), local memory never is, and the observer's own exception is the host's.
/// </summary>
public sealed class GuestRamWriteObserverTests
{
    private sealed class Recorder : IGuestRamWriteObserver
    {
        public readonly List<(ulong Address, ulong Length)> Writes = [];
        public Exception? Throw;

        public void DeviceWrote(ulong guestPhysicalAddress, ulong length)
        {
            Writes.Add((guestPhysicalAddress, length));
            if (Throw is { } e) throw e;
        }

        public bool Covers(ulong address, ulong length)
        {
            for (ulong a = address; a < address + length; a++)
                if (!Writes.Exists(w => a - w.Address < w.Length)) return false;
            return true;
        }
    }

    private EngineTestMachine _m = null!;
    private TestAddressSpace _space = null!;
    private EngineContext _ctx = null!;
    private Recorder _rec = null!;

    [SetUp]
    public void SetUp()
    {
        _m = new EngineTestMachine();
        _space = _m.NewAddressSpace();
        _ctx = _m.NewContext(_space, id: 5);
        _m.Memory.WriteObserver = _rec = new Recorder();
    }

    [TearDown]
    public void TearDown() => _m.Dispose();

    private void Run(PacketBuild build)
    {
        _ctx.Submit(build);
        _m.SwitchTo(EngineKind.Copy, _ctx);
        _m.RunUntilIdle();
    }

    [Test]
    public void GivenAnObserver_WhenPacketsWriteSystemMemory_ThenEveryWrittenByteIsReportedAtItsGuestPhysicalAddress()
    {
        ulong va = 0x300000;
        _space.Map(va, PhysicalAddress.System(0x10000), 4);
        ulong src = _space.Alloc(8192);
        Run((ref PacketWriter w) =>
        {
            w.WriteData(va + 8, [1u, 2u]);          // first touch: the general path
            w.WriteData(va + 24, [3u]);             // the page is in the TLB now: the fast path must report too
            w.Fence(va + 40, 7);
            w.Fill(va + 4096 + 100, 0xFFFFFFFFu, 5000);
            w.Copy(va + 3 * 4096 - 4, src, 4);
        });
        Assert.That(_ctx.ReadPtr, Is.EqualTo(_ctx.WritePtr));
        Assert.That(_rec.Covers(0x10000 + 8, 8), "WRITE_DATA (walk)");
        Assert.That(_rec.Covers(0x10000 + 24, 4), "WRITE_DATA (TLB hit)");
        Assert.That(_rec.Covers(0x10000 + 40, 8), "FENCE");
        Assert.That(_rec.Covers(0x10000 + 4096 + 100, 5000), "FILL");
        Assert.That(_rec.Covers(0x10000 + 3 * 4096 - 4, 4), "COPY");
        Assert.That(_rec.Writes.TrueForAll(w => w.Address >= 0x10000 && w.Address + w.Length <= 0x14000),
            "nothing outside the written pages (local writes — ring ReadPtr, save area — are not reported)");
    }

    [Test]
    public void GivenNoObserver_WhenTheSameWorkRuns_ThenTheBytesAreTheSame()
    {
        _m.Memory.WriteObserver = null;
        ulong va = 0x300000;
        _space.Map(va, PhysicalAddress.System(0x10000), 1);
        Run((ref PacketWriter w) => { w.WriteData(va, [9u]); w.WriteData(va + 4, [10u]); });
        Assert.That(_m.Memory.System.Ref<ulong>(0x10000), Is.EqualTo(0x0000000A_00000009UL));
        Assert.That(_rec.Writes, Is.Empty);
    }

    [Test]
    public void GivenAnObserverThatThrows_WhenTheDeviceWrites_ThenTheExceptionPassesThroughStep_AndIsNotAnInternalError()
    {
        ulong va = 0x300000;
        _space.Map(va, PhysicalAddress.System(0x10000), 1);
        _rec.Throw = new InvalidOperationException("host bug");
        _ctx.Submit((ref PacketWriter w) => w.WriteData(va, [1u]));
        _m.SwitchTo(EngineKind.Copy, _ctx);
        var e = Assert.Throws<InvalidOperationException>(() => _m.Device.Step(1 << 20));
        Assert.That(e!.Message, Is.EqualTo("host bug"));
        Assert.That(_m.Device.InternalErrors, Is.Zero);
    }

    [Test]
    public void GivenAnObserver_WhenARingDescriptorInSystemMemoryIsConsumed_ThenItsReadPtrWriteIsReported()
    {
        // A context whose ring descriptor and ring live in guest RAM (as a user queue's do).
        var desc = PhysicalAddress.System(0x20000);
        var ring = PhysicalAddress.System(0x21000);
        _m.Memory.System.Ref<Coproc.Fast.Device.Rings.RingDescriptor>(desc.Offset) =
            new Coproc.Fast.Device.Rings.RingDescriptor { Base = ring.Encoded, SizeBytes = 4096, ContextId = 6 };
        var save = _m.AllocLocal(ContextSaveArea.SizeInBytes, ContextSaveArea.Alignment);
        _m.Memory.Local.Ref<ContextSaveArea>(save.Offset) = new ContextSaveArea
        {
            RingDescriptor = desc.Encoded, ContextId = 6, AddressSpace = _space.Descriptor,
        };
        var packets = PacketProgram.Build((ref PacketWriter w) => w.Nop(4));
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(packets.AsSpan()).CopyTo(_m.Memory.GetSpan(ring, packets.Length * 4));
        _m.Memory.System.Ref<Coproc.Fast.Device.Rings.RingDescriptor>(desc.Offset).WritePtr = (ulong)packets.Length * 4;
        _m.Device.Mmio.Write64(EngineRegisters.At(EngineKind.Copy, EngineRegisters.ContextSwitch), save.Encoded);
        _m.RunUntilIdle();
        Assert.That(_m.Memory.System.Ref<Coproc.Fast.Device.Rings.RingDescriptor>(desc.Offset).ReadPtr, Is.EqualTo((ulong)packets.Length * 4));
        Assert.That(_rec.Covers(desc.Offset + Coproc.Fast.Device.Rings.RingDescriptor.ReadPtrOffset, 8));
    }
}
