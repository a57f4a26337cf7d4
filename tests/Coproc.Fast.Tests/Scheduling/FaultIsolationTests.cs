using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

[TestFixture]
public sealed class FaultIsolationTests
{
    [Test]
    public void DeviceFaultInOneContext_ResetsOnlyThatContext_OthersFinishUntouched()
    {
        using var h = new SchedulingHarness();
        var bad = h.Machine.CreateContext(1);
        var good = h.Machine.CreateContext(2);
        var x = h.Allocate(1, 8192);
        var y = h.Allocate(2);
        // Passes validation (in bounds, declared) but the device refuses an overlapping COPY: InvalidCommand fault.
        long faulting = h.Submit(1, bad, cb => { cb.Copy(x, 0, x, 16, 256); cb.WriteData(x, 4096, [1]); });
        long queued = h.Submit(1, bad, cb => cb.WriteData(x, 4100, [2]));
        var goodIds = Enumerable.Range(0, 4).Select(i => h.Submit(2, good, cb => cb.Fill(y, (ulong)i * 1024, (uint)i + 1, 1024))).ToArray();

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(bad.StatusOf(faulting), Is.EqualTo(SubmissionStatus.FailedFault));
        Assert.That(bad.StatusOf(queued), Is.EqualTo(SubmissionStatus.FailedFault), "its queued work fails with it");
        Assert.That(h.Read32(x, 4100), Is.Zero);
        Assert.That(h.Read32(x, 4096), Is.Zero, "nothing after the faulting packet ran");
        Assert.That(h.Trace.Of(ScheduleEventKind.ContextFault).Single().ContextId, Is.EqualTo(bad.Id));
        Assert.That(goodIds.Select(good.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        for (int i = 0; i < 4; i++) Assert.That(h.Read32(y, (ulong)i * 1024), Is.EqualTo((uint)i + 1));
        Assert.That(good.Resets, Is.Zero);
    }

    [Test]
    public void Behaviour06_Patching_RewritesOffsetOWithTheAddressVidMmChose()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var a = h.Allocate(1, 8192);
        long id = h.Submit(1, ctx, cb => { cb.Nop(); cb.WriteData(a, 0x1230, [0xCAFE]); });
        h.Machine.RunUntilIdle();

        // The ring's INDIRECT names the DMA buffer in the kernel view; its operand at byte 4 + 4 holds the patched address.
        var mem = h.Machine.VidMm.Memory;
        var ring = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(mem.GetSpan(ctx.Ring, 16));
        Assert.That(new PacketHeader(ring[0]).Opcode, Is.EqualTo(Opcode.Indirect));
        ulong dmaVa = PacketFormat.U64(ring[1], ring[2]) & ~1UL;
        var status = h.Machine.Device.Mmu.Walk(h.Machine.Residency.KernelView, dmaVa, out var leaf, out _, out _, out ulong pageSize);
        Assert.That(status, Is.EqualTo(TranslationStatus.Ok));
        var dmaPa = new Coproc.Fast.Device.Memory.PhysicalAddress(leaf.Location, leaf.FrameOffset + (dmaVa & (pageSize - 1)));
        var dma = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(mem.GetSpan(dmaPa, 32));
        ulong patched = PacketFormat.U64(dma[2], dma[3]);
        Assert.That(patched, Is.EqualTo(h.Residency!.PatchAddress(a, 0x1230)), "offset O now holds P");
        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(a, 0x1230), Is.EqualTo(0xCAFEu), "the device accessed exactly (allocation, offset)");
    }
}
