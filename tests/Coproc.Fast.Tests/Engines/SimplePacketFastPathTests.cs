using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines;

/// <summary>
/// NOP, WRITE_DATA and FENCE run inline in the fetch loops when the TLB holds their page with the needed rights
/// (docs/performance.md goal 3). These tests pin that the fast path sees exactly what the general path sees: a cached
/// translation never grants a right it lacks, never outlives an invalidation, and counters stay exact.
/// </summary>
public class SimplePacketFastPathTests
{
    private EngineTestMachine _m = null!;
    private TestAddressSpace _space = null!;
    private EngineContext _ctx = null!;

    [SetUp]
    public void SetUp()
    {
        _m = new EngineTestMachine();
        _space = _m.NewAddressSpace();
        _ctx = _m.NewContext(_space, id: 9);
    }

    [TearDown]
    public void TearDown() => _m.Dispose();

    private CommandProcessor Copy => _m.Device.Engine(EngineKind.Copy);

    private void Run(PacketBuild build)
    {
        _ctx.Submit(build);
        _m.SwitchTo(EngineKind.Copy, _ctx);
        _m.RunUntilIdle();
    }

    [Test]
    public void WriteData_ToAReadOnlyPageThatAReadCached_FaultsAsWriteProtected()
    {
        // Given a read-only page whose translation a WAIT_FENCE (a read) has just put in the TLB
        ulong va = _space.Alloc(4096, writable: false);
        // When a WRITE_DATA to that page follows
        Run((ref PacketWriter w) => { w.WaitFence(va, 0); w.WriteData(va, 0xDEADBEEF); });
        // Then the context faults on the write, exactly as without the cached translation, and memory is unchanged
        Assert.That(Copy.LastFault.Reason, Is.EqualTo(FaultReason.MemoryFault));
        Assert.That(Copy.LastFault.Detail, Is.EqualTo((ushort)TranslationStatus.WriteProtected));
        Assert.That(Copy.LastFault.Opcode, Is.EqualTo((byte)Opcode.WriteData));
        Assert.That(_space.Read32(va), Is.Zero);
        Assert.That(Copy.PacketsExecuted, Is.EqualTo(1), "only the WAIT_FENCE retired");
    }

    [Test]
    public void Fence_FromALimitedDmaBuffer_ToAPrivilegedPageCachedByThePrivilegedRing_FaultsAsPrivilegeViolation()
    {
        // Given a privileged page written (and so cached) by the privileged ring
        ulong va = _space.Alloc(4096, privileged: true);
        ulong dma = _space.NewDmaBuffer(PacketProgram.Build((ref PacketWriter w) => w.Fence(va, 5)));
        // When a limited DMA buffer fences to it
        Run((ref PacketWriter w) => { w.WriteData(va, 1); w.Indirect(dma, PacketFormat.FenceDwords, privileged: false); });
        // Then the fence faults and the value the ring wrote stays
        Assert.That(Copy.LastFault.Reason, Is.EqualTo(FaultReason.MemoryFault));
        Assert.That(Copy.LastFault.Detail, Is.EqualTo((ushort)TranslationStatus.PrivilegeViolation));
        Assert.That(Copy.LastFault.Where, Is.EqualTo(FaultLocation.DmaBuffer));
        Assert.That(_space.Read64(va), Is.EqualTo(1UL));
    }

    [Test]
    public void WriteData_CrossingIntoADiscontiguousPage_WritesBothParts()
    {
        // Given two physically discontiguous pages, the first cached by an earlier write
        ulong va = _space.Alloc(2 * 4096, scattered: true);
        // When a WRITE_DATA straddles the page boundary
        Run((ref PacketWriter w) => { w.WriteData(va, 7u); w.WriteData(va + 4092, [0x11111111u, 0x22222222u]); });
        // Then both halves land in their own frames
        Assert.That(_space.Read32(va + 4092), Is.EqualTo(0x11111111u));
        Assert.That(_space.Read32(va + 4096), Is.EqualTo(0x22222222u));
        Assert.That(Copy.PacketsExecuted, Is.EqualTo(2));
    }

    [Test]
    public void WriteData_AfterAnInStreamUnmapAndTlbFlush_FaultsInsteadOfHittingTheStaleEntry()
    {
        // Given a page written once (so cached), then unmapped by UPDATE_PAGE_TABLE and flushed by TLB_FLUSH in the same ring
        ulong va = _space.Alloc(4096);
        var frame = _space.PhysicalOf(va);
        ulong pte = LeafEntryAddress(va);
        ushort asid = _space.Descriptor.Asid;
        // When the stream writes the page again
        Run((ref PacketWriter w) =>
        {
            w.WriteData(va, 1u);
            w.UpdatePageTable(PhysicalAddress.Local(pte).Encoded, [0UL]);
            w.TlbFlush(asid, va, 1);
            w.WriteData(va, 2u);
        });
        // Then the second write faults as an invalid address and the old frame keeps the first value
        Assert.That(Copy.LastFault.Reason, Is.EqualTo(FaultReason.MemoryFault));
        Assert.That(Copy.LastFault.Detail, Is.EqualTo((ushort)TranslationStatus.InvalidAddress));
        Assert.That(_m.Memory.Read32(frame), Is.EqualTo(1u));
        Assert.That(Copy.PacketsExecuted, Is.EqualTo(3));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void TlbCounters_AreTheSame_WhetherTheFastPathRunsOrHitsAreCounted(bool countHits)
    {
        // Given one page and the copy engine's TLB with hit counting on or off
        ulong va = _space.Alloc(4096);
        var tlb = _m.Device.Tlbs[EngineKind.Copy];
        tlb.CountHits = countHits;
        long hits = tlb.Hits, misses = tlb.Misses;
        // When ten WRITE_DATA and FENCE packets write to it
        Run((ref PacketWriter w) =>
        {
            for (int i = 0; i < 5; i++) { w.WriteData(va + (ulong)i * 4, (uint)i); w.Fence(va + 64, (ulong)i); }
        });
        // Then there is one miss, and nine hits when they are counted
        Assert.That(tlb.Misses - misses, Is.EqualTo(1));
        Assert.That(tlb.Hits - hits, Is.EqualTo(countHits ? 9 : 0));
        Assert.That(_space.Read32(va + 16), Is.EqualTo(4u));
        Assert.That(_space.Read64(va + 64), Is.EqualTo(4UL));
    }

    [TestCase(1UL)]
    [TestCase(3UL)]
    [TestCase(7UL)]
    public void AStreamOfSimpleAndGeneralPackets_SteppedInSlicesOfAFewCycles_EndsExactlyAsInOneStepAndAsOnTheGeneralPath(ulong slice)
    {
        // A stream mixing NOPs, WRITE_DATAs and FENCEs (the fetch loop's simple path) with TIMESTAMPs (the general path),
        // whose first WRITE_DATA misses the TLB; each TIMESTAMP records the cycle its packet ran at, so the memory it
        // leaves also pins every earlier packet's cost.
        static void Stream(ref PacketWriter w, ulong va)
        {
            for (uint i = 0; i < 40; i++)
            {
                w.Nop();
                w.WriteData(va + i * 4, i + 1);
                w.Fence(va + 1024, i);
                if (i % 7 == 3) w.Timestamp(va + 2048 + i * 8);
                w.Nop(3);
            }
        }
        static (long Packets, ulong ReadPtr, byte[] Bytes) RunOnce(ulong stepCycles, bool countHits) =>
            RunOnFreshDevice((_, va) => (ref PacketWriter w) => Stream(ref w, va), stepCycles, countHits);

        // Given the stream run in one long step on the fast path
        var whole = RunOnce(1UL << 20, countHits: false);
        Assert.That(whole.Packets, Is.EqualTo(40 * 4 + 6), "every packet retired");
        Assert.That(BitConverter.ToUInt32(whole.Bytes, 39 * 4), Is.EqualTo(40u));
        Assert.That(BitConverter.ToUInt64(whole.Bytes, 2048 + 3 * 8), Is.Not.Zero, "the first TIMESTAMP wrote its cycle");

        // When it runs stepped a few cycles at a time, and in one step with WRITE_DATA and FENCE on the general path
        var sliced = RunOnce(slice, countHits: false);
        var general = RunOnce(1UL << 20, countHits: true);

        // Then it stops at every slice's end mid-stream and resumes where it stopped, and the fast path costs what the
        // general path costs: the same packets retire, the ring is read to the same place, and memory (the TIMESTAMPs'
        // cycles included) is equal
        Assert.That(sliced, Is.EqualTo(whole).Using<(long, ulong, byte[])>((a, b) => a.Item1 == b.Item1 && a.Item2 == b.Item2 && a.Item3.AsSpan().SequenceEqual(b.Item3)));
        Assert.That(general.Packets, Is.EqualTo(whole.Packets));
        Assert.That(general.ReadPtr, Is.EqualTo(whole.ReadPtr));
        Assert.That(general.Bytes, Is.EqualTo(whole.Bytes));
    }

    [TestCase(1UL)]
    [TestCase(5UL)]
    public void ADmaBufferOfSimpleAndGeneralPackets_OnScatteredPages_SteppedInSlices_EndsAsInOneStepAndAsOnTheGeneralPath(ulong slice)
    {
        // A DMA buffer of about 7 KiB on physically scattered pages (packets that straddle a page are gathered), mixing
        // NOPs, WRITE_DATAs and FENCEs with TIMESTAMPs, called from the ring by a limited INDIRECT.
        static uint[] Buffer(ulong va) => PacketProgram.Build((ref PacketWriter w) =>
        {
            for (uint i = 0; i < 130; i++)
            {
                w.Nop(2);
                w.WriteData(va + (i % 200) * 4, i + 1);
                w.Fence(va + 1024, i);
                if (i % 9 == 4) w.Timestamp(va + 2048 + (i % 64) * 8);
            }
        });
        static (long Packets, ulong ReadPtr, byte[] Bytes) RunOnce(ulong stepCycles, bool countHits) =>
            RunOnFreshDevice((space, va) =>
            {
                uint[] buffer = Buffer(va);
                ulong dma = space.NewDmaBuffer(buffer, scattered: true);
                return (ref PacketWriter w) => { w.Indirect(dma, (uint)buffer.Length, privileged: false); w.Nop(); };
            }, stepCycles, countHits);

        // Given the buffer run in one long step on the fast path
        var whole = RunOnce(1UL << 20, countHits: false);
        Assert.That(whole.Packets, Is.EqualTo(130 * 3 + 14 + 2), "every packet retired: 14 TIMESTAMPs, the INDIRECT and the last NOP included");
        Assert.That(BitConverter.ToUInt32(whole.Bytes, 129 * 4), Is.EqualTo(130u));

        // When it runs a few cycles at a time, and in one step with WRITE_DATA and FENCE on the general path
        var sliced = RunOnce(slice, countHits: false);
        var general = RunOnce(1UL << 20, countHits: true);

        // Then all three end alike: packets, ReadPtr and memory, TIMESTAMP cycles included
        AssertEndAlike(whole, sliced, general);
    }

    [TestCase(1UL)]
    [TestCase(4UL)]
    public void PlainPacketsToLocalAndSystemMemory_SteppedInSlices_EndAsInOneStepAndAsOnTheGeneralPath(ulong slice)
    {
        // One-dword NOPs, one-dword WRITE_DATAs and FENCEs without flags (the plain loop's three headers) alternating
        // between a local page and a system-memory page, with a read-only page's WRITE_DATA at the end (a fault: the
        // plain loop must leave it to the general path with nothing of it done).
        const ulong SystemVa = 0x30_0000, ReadOnlyVa = 0x40_0000;
        static (long Packets, ulong ReadPtr, byte[] Bytes) RunOnce(ulong stepCycles, bool countHits)
        {
            byte[] system = new byte[4096];
            var result = RunOnFreshDevice((space, va) =>
            {
                space.Map(SystemVa, PhysicalAddress.System(0x2000), 1);
                space.Map(ReadOnlyVa, PhysicalAddress.System(0x3000), 1, writable: false);
                return (ref PacketWriter w) =>
                {
                    for (uint i = 0; i < 60; i++)
                    {
                        w.Nop();
                        w.WriteData((i % 2 == 0 ? va : SystemVa) + i * 4, i + 1);
                        w.Fence((i % 3 == 0 ? va : SystemVa) + 2048 + (i % 5) * 8, 100 + i);
                    }
                    w.WriteData(ReadOnlyVa, 5u);
                    w.WriteData(va + 3000, 6u);
                };
            }, stepCycles, countHits, m => m.Memory.System.Slice(0x2000, 4096).CopyTo(system));
            return (result.Packets, result.ReadPtr, [.. result.Bytes, .. system]);
        }

        // Given the stream run in one long step
        var whole = RunOnce(1UL << 20, countHits: false);
        Assert.That(whole.Packets, Is.EqualTo(60 * 3), "every packet before the read-only page's WRITE_DATA retired, none after");
        Assert.That(BitConverter.ToUInt32(whole.Bytes, 4096 + 59 * 4), Is.EqualTo(60u), "the last WRITE_DATA to system memory");
        Assert.That(BitConverter.ToUInt64(whole.Bytes, 2048 + 4 * 8), Is.EqualTo(100UL + 54), "the last FENCE to the local page at slot 4 (i = 54)");
        Assert.That(BitConverter.ToUInt32(whole.Bytes, 3000), Is.Zero, "the WRITE_DATA after the fault did not run");

        // When it runs a few cycles at a time, and with WRITE_DATA and FENCE on the general path
        var sliced = RunOnce(slice, countHits: false);
        var general = RunOnce(1UL << 20, countHits: true);

        // Then all three end alike: packets, ReadPtr (at the faulting packet) and both pages
        AssertEndAlike(whole, sliced, general);
    }

    // Each of others retired the same packets, read the ring to the same place and left the same bytes as whole.
    private static void AssertEndAlike((long Packets, ulong ReadPtr, byte[] Bytes) whole, params (long Packets, ulong ReadPtr, byte[] Bytes)[] others)
    {
        foreach (var other in others)
        {
            Assert.That(other.Packets, Is.EqualTo(whole.Packets));
            Assert.That(other.ReadPtr, Is.EqualTo(whole.ReadPtr));
            Assert.That(other.Bytes, Is.EqualTo(whole.Bytes));
        }
    }

    // Runs a ring program on a fresh device's copy engine until the ring is read to its end: ring(space, va) builds it for
    // a context whose data page is at va (and may set up DMA buffers in space first); the device steps stepCycles at a
    // time, with the copy TLB counting hits or not (counting sends every WRITE_DATA and FENCE down the general path,
    // Tlb.cs), until the ring is read or the engine faults; atEnd reads more of the machine before it is disposed.
    // Returns the packets retired, ReadPtr, and the data page.
    private static (long Packets, ulong ReadPtr, byte[] Bytes) RunOnFreshDevice(Func<TestAddressSpace, ulong, PacketBuild> ring, ulong stepCycles, bool countHits, Action<EngineTestMachine>? atEnd = null)
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, id: 9);
        ulong va = space.Alloc(4096);
        var build = ring(space, va);
        m.Device.Tlbs[EngineKind.Copy].CountHits = countHits;
        ctx.Submit(build);
        ulong end = ctx.WritePtr;
        m.SwitchTo(EngineKind.Copy, ctx);
        for (int i = 0; i < 200_000 && ctx.ReadPtr != end && m.Device.Engine(EngineKind.Copy).LastFault.Reason == FaultReason.None; i++)
            m.Device.Step(stepCycles);
        atEnd?.Invoke(m);
        return (m.Device.Engine(EngineKind.Copy).PacketsExecuted, ctx.ReadPtr, space.ReadBytes(va, 4096));
    }

    private ulong LeafEntryAddress(ulong va)
    {
        ulong table = _space.Descriptor.Root.Offset;
        for (int level = 3; level >= 1; level--)
            table = new PageTableEntry(_m.Memory.Local.Ref<ulong>(table + (ulong)PageTableLayout.IndexAt(va, level) * 8)).FrameOffset;
        return table + (ulong)PageTableLayout.IndexAt(va, 0) * 8;
    }
}
