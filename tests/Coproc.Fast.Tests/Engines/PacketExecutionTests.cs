using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines;

/// <summary>Golden tests: the bytes in memory after each packet runs.</summary>
public class PacketExecutionTests
{
    private EngineTestMachine _m = null!;
    private TestAddressSpace _space = null!;
    private EngineContext _ctx = null!;

    [SetUp]
    public void SetUp()
    {
        _m = new EngineTestMachine();
        _space = _m.NewAddressSpace();
        _ctx = _m.NewContext(_space, id: 7);
    }

    [TearDown]
    public void TearDown() => _m.Dispose();

    private void Run(PacketBuild build, EngineKind engine = EngineKind.Copy)
    {
        _ctx.Submit(build);
        _m.SwitchTo(engine, _ctx);
        _m.RunUntilIdle();
    }

    [Test]
    public void WriteData_WritesItsDwordsAtTheVa_AndRetiresTheRing()
    {
        ulong va = _space.Alloc(4096);
        Run((ref PacketWriter w) => w.WriteData(va + 8, [0x11111111u, 0x22222222u, 0x33333333u]));
        Assert.That(_space.ReadBytes(va, 24), Is.EqualTo(new byte[]
        {
            0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33, 0, 0, 0, 0,
        }));
        Assert.That(_ctx.ReadPtr, Is.EqualTo(_ctx.WritePtr));
        Assert.That(_m.Device.Engine(EngineKind.Copy).PacketsExecuted, Is.EqualTo(1));
    }

    [Test]
    public void Copy_CopiesUnalignedBytesAcrossScatteredPages()
    {
        ulong src = _space.Alloc(5 * 4096, scattered: true), dst = _space.Alloc(5 * 4096, scattered: true);
        var data = new byte[3 * 4096 + 123];
        new Random(5).NextBytes(data);
        _space.WriteBytes(src + 77, data);
        Run((ref PacketWriter w) => w.Copy(dst + 1001, src + 77, (ulong)data.Length));
        Assert.That(_space.ReadBytes(dst + 1001, data.Length), Is.EqualTo(data));
        Assert.That(_space.ReadBytes(dst + 1000, 1)[0], Is.Zero, "byte before the destination untouched");
        Assert.That(_space.ReadBytes(dst + 1001 + (ulong)data.Length, 1)[0], Is.Zero, "byte after the destination untouched");
    }

    [Test]
    public void Fill_WritesThePatternWithItsPhaseFollowingTheVa()
    {
        ulong dst = _space.Alloc(3 * 4096, scattered: true);
        Run((ref PacketWriter w) => w.Fill(dst + 4094, 0x44332211, 7));
        Assert.That(_space.ReadBytes(dst + 4093, 9), Is.EqualTo(new byte[] { 0, 0x33, 0x44, 0x11, 0x22, 0x33, 0x44, 0x11, 0 }));
    }

    [Test]
    public void Timestamp_WritesTheDeviceCycleAtWhichThePacketCompletes()
    {
        ulong va = _space.Alloc(4096);
        var costs = PacketCosts.Default;
        Run((ref PacketWriter w) => { w.Nop(); w.Timestamp(va); });
        // The switch-in cost is charged first, then the NOP, then the timestamp packet itself.
        Assert.That(_space.Read64(va), Is.EqualTo((ulong)(costs.ContextSwitch + costs.Nop + costs.Timestamp)));
    }

    [Test]
    public void RegularFence_WritesItsValue_AndRaisesAFenceInterruptWhenAsked()
    {
        ulong va = _space.Alloc(4096);
        Run((ref PacketWriter w) => { w.Fence(va, 0x1122334455667788); w.Fence(va + 8, 5, FenceKind.Read, interrupt: true); });
        Assert.That(_space.Read64(va), Is.EqualTo(0x1122334455667788UL));
        Assert.That(_space.Read64(va + 8), Is.EqualTo(5UL));
        var fences = _m.DrainInterrupts().Where(i => i.Source == InterruptSource.Fence).ToList();
        Assert.That(fences, Has.Count.EqualTo(1));
        Assert.That(fences[0].Data0, Is.EqualTo(5UL));
        Assert.That(fences[0].Data1, Is.EqualTo(va + 8));
        Assert.That(fences[0].ContextId, Is.EqualTo(7u));
        Assert.That(fences[0].Engine, Is.EqualTo((byte)EngineKind.Copy));
    }

    [Test]
    public void PrivilegedFence_InTheRing_WritesThePhysicalAddress()
    {
        var pa = _m.AllocLocal(4096);
        Run((ref PacketWriter w) => w.PrivilegedFence(pa.Add(16).Encoded, 99, FenceKind.TopOfPipe));
        Assert.That(_m.Memory.Read64(pa.Add(16)), Is.EqualTo(99UL));
    }

    [Test]
    public void Signal_AddsOne_AndReportsOverflowAsAnError()
    {
        ulong va = _space.Alloc(4096);
        _space.Write32(va, 41);
        _space.Write32(va + 4, uint.MaxValue);
        Run((ref PacketWriter w) => { w.Signal(va); w.Signal(va + 4); w.WriteData(va + 8, 1); });
        Assert.That(_space.Read32(va), Is.EqualTo(42u));
        Assert.That(_space.Read32(va + 4), Is.Zero);
        Assert.That(_space.Read32(va + 8), Is.EqualTo(1u), "the stream continues after an overflow");
        Assert.That(_m.DrainInterrupts().Count(i => i.Source == InterruptSource.Error && i.Data0 == va + 4), Is.EqualTo(1));
    }

    [Test]
    public void Wait_DecrementsANonZeroCounter_AndContinues()
    {
        ulong va = _space.Alloc(4096);
        _space.Write32(va, 2);
        Run((ref PacketWriter w) => { w.Wait(va); w.WriteData(va + 4, 1); });
        Assert.That(_space.Read32(va), Is.EqualTo(1u));
        Assert.That(_space.Read32(va + 4), Is.EqualTo(1u));
    }

    [Test]
    public void UpdatePageTable_ThenTlbFlush_FromTheRing_MakesANewMappingVisible()
    {
        ulong va = _space.Alloc(4096);
        var other = _m.AllocLocal(4096);
        // Warm the engine TLB with the old mapping.
        Run((ref PacketWriter w) => w.WriteData(va, 1));
        var pte = _space.PhysicalOf(va); // frame of the current mapping
        Assert.That(_m.Memory.Read32(pte), Is.EqualTo(1u));
        ulong leafSlot = FindLeafSlot(va);
        ulong newEntry = Coproc.Fast.Device.Mmu.PageTableEntry.Create(MemoryLocation.Local, other.Offset).Raw;
        _ctx.Submit((ref PacketWriter w) =>
        {
            w.UpdatePageTable(PhysicalAddress.Local(leafSlot).Encoded, [newEntry]);
            w.TlbFlush(_space.Descriptor.Asid, va, 1);
            w.WriteData(va, 2);
        });
        _m.RunUntilIdle();
        Assert.That(_m.Memory.Read32(other), Is.EqualTo(2u), "the write went through the new PTE");
        Assert.That(_m.Memory.Read32(pte), Is.EqualTo(1u), "the old frame was not written");
    }

    [Test]
    public void RegWrite_FromTheRing_ProgramsADisplayRegister()
    {
        Run((ref PacketWriter w) => { w.RegWrite(0x930, 4096); w.RegWrite(0x92C, 8); });
        Assert.That(_m.Device.Display.Pitch, Is.EqualTo(4096u));
        Assert.That(_m.Device.Display.Height, Is.EqualTo(8u));
    }

    [Test]
    public void WorkPacket_OnTheWrongEngine_IsAnInvalidCommandOfThatContext()
    {
        ulong dma = _space.NewDmaBuffer([PacketHeader.Make(Opcode.DrawRects, 1)]);
        Run((ref PacketWriter w) => w.Indirect(dma, 1, privileged: false), EngineKind.Copy);
        var save = _m.ReadSaveArea(_ctx);
        Assert.That(save.Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(save.Fault.Reason, Is.EqualTo(FaultReason.WrongEngine));
        Assert.That(save.Fault.OpcodeValue, Is.EqualTo(Opcode.DrawRects));
        Assert.That(_m.DrainInterrupts().Any(i => i.Source == InterruptSource.InvalidCommand), Is.True);
    }

    private ulong FindLeafSlot(ulong va)
    {
        ulong table = _space.Descriptor.Root.Offset;
        for (int level = 3; level >= 1; level--)
            table = new Coproc.Fast.Device.Mmu.PageTableEntry(_m.Memory.Local.Ref<ulong>(table + (ulong)Coproc.Fast.Device.Mmu.PageTableLayout.IndexAt(va, level) * 8)).FrameOffset;
        return table + (ulong)Coproc.Fast.Device.Mmu.PageTableLayout.IndexAt(va, 0) * 8;
    }
}
