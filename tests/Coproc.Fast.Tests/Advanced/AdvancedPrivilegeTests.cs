using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>Seed 001 §7 (behaviours 24, 25): limited vs privileged DMA under the three enforcement options.</summary>
[TestFixture]
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedPrivilegeTests
{
    public enum Bad { PhysicalFence, DisableContextSwitch, RegWrite, Flip, UpdatePageTable }

    private static void Emit(Bad bad, ref PacketWriter w)
    {
        switch (bad)
        {
            case Bad.PhysicalFence: w.PrivilegedFence(PhysicalAddress.Local(0x1000).Encoded, 7); break;
            case Bad.DisableContextSwitch: w.DisableContextSwitch(); break;
            case Bad.RegWrite: w.RegWrite(0x900 + 0x10, 1); break;
            case Bad.Flip: w.Flip(PhysicalAddress.Local(0).Encoded, vsync: false); break;
            case Bad.UpdatePageTable: w.UpdatePageTable(PhysicalAddress.Local(0).Encoded, [0UL]); break;
        }
    }

    [Test]
    public void Behaviour24_Option1_KernelRefusesEveryPrivilegedInstruction_NothingQueued(
        [Values] Bad bad)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: PrivilegeEnforcement.KernelCopy));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var buf = p.CreateDmaBuffer(64);
        var w = buf.Writer();
        w.Nop();
        Emit(bad, ref w);
        ulong tail = ctx.Hw.WritePtr;
        int written = w.Written;

        var ex = Assert.Throws<LimitedBufferRejectedException>(() => rig.Scheduler.Submit(ctx, buf, written));
        Assert.That(ex!.DwordOffset, Is.EqualTo(1));
        Assert.That(ex.Violation, Is.EqualTo(bad == Bad.PhysicalFence ? LimitedBufferViolation.PhysicalAddress : LimitedBufferViolation.PrivilegedPacket));
        Assert.That(ctx.Hw.WritePtr, Is.EqualTo(tail));
        Assert.That(ctx.SubmittedFence, Is.Zero);
    }

    [Test]
    public void Behaviour24_Options2And3_HardwareFaultsTheLimitedBuffer_OnlyItsContextStops(
        [Values(PrivilegeEnforcement.RingInsertion, PrivilegeEnforcement.IndirectBit)] PrivilegeEnforcement option, [Values] Bad bad)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: option));
        var p = rig.Scheduler.CreateProcess();
        var evil = rig.Scheduler.CreateContext(p);
        var q = rig.Scheduler.CreateProcess();
        var good = rig.Scheduler.CreateContext(q);
        var s = q.AllocateSurface(64 << 10);
        var te = rig.Submit(evil, (ref PacketWriter w) => Emit(bad, ref w));
        var tg = rig.Submit(good, (ref PacketWriter w) => w.Fill(s.Va, 0x0F0F0F0F, 64 << 10), s.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(evil.State, Is.EqualTo(VaContextState.Error));
        Assert.That(evil.ErrorReason, Is.EqualTo(nameof(SwitchReason.ProtectionFault)));
        Assert.That(te.HasFailed, Is.True);
        // The kernel's own privileged fence (ring or privileged buffer) retired the good buffer.
        Assert.That(tg.IsComplete, Is.True);
        AdvancedRig.AssertBytes(rig.Read(s), AdvancedRig.Pattern(0x0F0F0F0F, 64 << 10));
        Assert.That(rig.Machine.Device.Display.CurrentSurface, Is.Zero, "no flip reached the display");
    }

    [Test]
    public void Behaviour25_Option3_TheRingRedirectsTheUserBufferLimited_AndTheKernelFenceBufferWithBit0()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: PrivilegeEnforcement.IndirectBit));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var log = p.AllocatePinned(4096);
        var t = rig.Submit(ctx, (ref PacketWriter w) => w.WriteData(log.Va, 5));
        var ring = MemoryMarshal.Cast<byte, uint>(rig.Machine.VidMm.Memory.GetSpan(ctx.Hw.Ring, (int)ctx.Hw.WritePtr));

        Assert.That(PacketDecoder.TryDecode(ring, 0, out var first, out _), Is.True);
        Assert.That(PacketDecoder.TryDecode(ring, first.LengthDwords, out var second, out _), Is.True);
        Assert.That(first.Opcode, Is.EqualTo(Opcode.Indirect));
        Assert.That(ring[1] & 1, Is.Zero, "the user's buffer runs limited");
        Assert.That(second.Opcode, Is.EqualTo(Opcode.Indirect));
        Assert.That(ring[first.LengthDwords + 1] & 1, Is.EqualTo(1u), "the kernel's fence buffer runs privileged (bit 0)");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(t.IsComplete, Is.True, "the privileged buffer's physical-address fence executed");
    }

    [Test]
    public void Behaviour25_ALimitedBufferTouchingTheKernelsPrivilegedBuffer_Faults()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: PrivilegeEnforcement.IndirectBit));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var priv = p.Allocations.Single(a => p.Space.ReadLeaf(a.Va).IsPrivileged);
        var t = rig.Submit(ctx, (ref PacketWriter w) => w.Copy(priv.Va + 64, priv.Va, 32));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(ctx.State, Is.EqualTo(VaContextState.Error));
        Assert.That(ctx.ErrorReason, Is.EqualTo(nameof(SwitchReason.ProtectionFault)));
        Assert.That(t.HasFailed, Is.True);
    }

    [Test]
    public void IndirectInsideAUserBuffer_IsAnInvalidCommand()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: PrivilegeEnforcement.RingInsertion));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var other = p.CreateDmaBuffer(16);
        var t = rig.Submit(ctx, (ref PacketWriter w) => w.Indirect(other.Va, 1, privileged: true));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(ctx.State, Is.EqualTo(VaContextState.Error));
        Assert.That(ctx.ErrorReason, Is.EqualTo(nameof(SwitchReason.InvalidCommand)));
        Assert.That(t.HasFailed, Is.True);
    }

    [Test]
    public void RingsPageTablesHistoryBufferAndSaveAreas_AreUnreachableFromAnyContextVa(
        [Values(PrivilegeEnforcement.KernelCopy, PrivilegeEnforcement.RingInsertion, PrivilegeEnforcement.IndirectBit)] PrivilegeEnforcement option)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History, option));
        var p = rig.Scheduler.CreateProcess();
        var victim = rig.Scheduler.CreateContext(p);
        var surface = p.AllocateSurface(64 << 10);
        rig.Submit(victim, (ref PacketWriter w) => w.Fill(surface.Va, 1, 4096), surface.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var targets = new[]
        {
            victim.Hw.Ring, victim.Hw.SaveArea, victim.Hw.Descriptor, p.Space.Descriptor.Root, rig.Scheduler.HistoryPa,
            rig.Scheduler.Paging.Context.Ring, rig.Scheduler.Paging.Context.SaveArea, victim.FencePa,
        };

        // No page any process maps is one of those pages
        var kernelPages = targets.Select(t => (t.Location, t.Offset >> 12)).ToHashSet();
        foreach (var a in p.Allocations)
            for (ulong va = a.Va; va < a.Va + a.Bytes; va += 4096)
            {
                var e = p.Space.ReadLeaf(va);
                Assert.That(kernelPages.Contains((e.Location, e.FrameOffset >> 12)), Is.False, $"VA 0x{va:X} maps a kernel structure");
            }

        // And trying: a limited buffer writing at the PA's offset, or at its kernel-view VA, faults and stops only itself
        foreach (var t in targets)
            foreach (ulong va in new[] { t.Offset, (t.Location == MemoryLocation.Local ? KernelViewSpace.LocalBase : KernelViewSpace.SystemBase) + t.Offset })
            {
                var evil = rig.Scheduler.CreateContext(p);
                bool ownMemory = p.TryFind(va, out _); // the number may happen to be one of the process's own VAs
                var te = rig.Submit(evil, (ref PacketWriter w) => w.WriteData(va, [0xBAD0BAD0u, 0xBAD0BAD0u]));
                Assert.That(rig.Machine.RunUntilIdle(), Is.True);
                if (!ownMemory)
                {
                    Assert.That(evil.State, Is.EqualTo(VaContextState.Error), $"write at 0x{va:X}");
                    Assert.That(te.HasFailed, Is.True);
                }
                Assert.That(rig.Machine.VidMm.Memory.GetSpan(t, 8).ToArray(), Is.Not.EqualTo(new byte[] { 0xD0, 0xBA, 0xD0, 0xBA, 0xD0, 0xBA, 0xD0, 0xBA }));
            }
        var again = rig.Submit(victim, (ref PacketWriter w) => w.Fill(surface.Va + 4096, 2, 4096));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(again.IsComplete, Is.True);
    }

    [Test]
    public void Behaviour24_TheSameInstructionsFromTheKernel_Succeed_UnderEveryOption(
        [Values(PrivilegeEnforcement.KernelCopy, PrivilegeEnforcement.RingInsertion, PrivilegeEnforcement.IndirectBit)] PrivilegeEnforcement option)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: option));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var packets = new uint[16];
        var w = new PacketWriter(packets);
        w.DisableContextSwitch();
        w.RegWrite(0x900 + 0x28, 640); // display WIDTH: a CRTC register (seed 001 §7.1 restriction 2)
        w.EnableContextSwitch();
        int mappedBefore = p.Space.MappingCount;

        Assert.That(rig.Scheduler.TrySubmitKernelCommands(ctx, packets.AsSpan(0, w.Written), out var t), Is.True);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(t.IsComplete, Is.True);
        Assert.That(ctx.State, Is.EqualTo(VaContextState.Ready));
        Assert.That(rig.Machine.Device.Display.Width, Is.EqualTo(640u));
        Assert.That(p.Space.MappingCount, Is.EqualTo(mappedBefore), "option 3's kernel buffer is unmapped once it retired");
    }

    [Test]
    public void Behaviour28_KernelDisabledContextSwitching_DefersTheSchedulersNewRunList_UntilEnabled()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History));
        var p = rig.Scheduler.CreateProcess();
        var low = rig.Scheduler.CreateContext(p, 0);
        var high = rig.Scheduler.CreateContext(p, 9);
        var big = p.AllocatePinned(4 << 20);
        var stamps = p.AllocatePinned(4096);
        var packets = new uint[4];
        new PacketWriter(packets).DisableContextSwitch();
        Assert.That(rig.Scheduler.TrySubmitKernelCommands(low, packets.AsSpan(0, 1), out _), Is.True);
        rig.Submit(low, (ref PacketWriter w) => { w.Fill(big.Va, 1, 4 << 20); w.Timestamp(stamps.Va); });
        new PacketWriter(packets).EnableContextSwitch();
        Assert.That(rig.Scheduler.TrySubmitKernelCommands(low, packets.AsSpan(0, 1), out var enabled), Is.True);
        Assert.That(rig.Machine.RunUntil(() => rig.Machine.Now > 10_000), Is.True);

        // When a higher-priority context gets work while low is inside its no-switch region
        var th = rig.Submit(high, (ref PacketWriter w) => w.Timestamp(stamps.Va + 8));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then the new list waited for ENABLE_CONTEXT_SWITCH: high ran after low's long fill
        Assert.That(rig.Scheduler.SubmittedLists.Any(l => l[0] == high.SaveArea), Is.True);
        ulong lowDone = rig.Read32(stamps, 0) | ((ulong)rig.Read32(stamps, 4) << 32);
        ulong highRan = rig.Read32(stamps, 8) | ((ulong)rig.Read32(stamps, 12) << 32);
        Assert.That(highRan, Is.GreaterThan(lowDone));
        Assert.That(enabled.IsComplete && th.IsComplete, Is.True);
    }

    [Test]
    public void Option1_TheKernelValidatesItsOwnCopy_SoABufferChangedAfterTheFirstCheckIsStillRefused()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: PrivilegeEnforcement.KernelCopy));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var buf = p.CreateDmaBuffer(64);
        var w = buf.Writer();
        w.Nop();
        w.Nop();
        int dwords = w.Written;
        LimitedBufferValidator.Validate(buf.Dwords[..dwords]); // what the early check saw: harmless
        // The process rewrites its buffer between the check and the copy (modelled by inserting directly)
        new PacketWriter(buf.Dwords[1..]).DisableContextSwitch();
        ulong tail = ctx.Hw.WritePtr;
        uint head = ctx.CopyHead;

        var ex = Assert.Throws<LimitedBufferRejectedException>(() =>
            ctx.TryInsert(buf, dwords, [], 0, PrivilegeEnforcement.KernelCopy, completion: null, out _));
        Assert.That(ex!.Violation, Is.EqualTo(LimitedBufferViolation.PrivilegedPacket));
        Assert.That(ctx.Hw.WritePtr, Is.EqualTo(tail));
        Assert.That(ctx.CopyHead, Is.EqualTo(head));
        Assert.That(ctx.SubmittedFence, Is.Zero);
    }
}
