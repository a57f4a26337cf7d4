using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Cli;

public class PacketMixEncoderTests
{
    private static (EngineTestMachine M, TestAddressSpace Space, SubmissionTargets Targets) Machine()
    {
        var m = new EngineTestMachine(new CoprocessorOptions { LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 0 });
        var space = m.NewAddressSpace();
        ulong surface = space.Alloc(256 * 64 * 4);
        ulong scratch = space.Alloc(64 * 1024);
        ulong fence = space.Alloc(4096);
        ulong a = space.Alloc(64 * 1024), b = space.Alloc(64 * 1024);
        var targets = new SubmissionTargets(Surface.Packed(surface, 256, 64), scratch, 64 * 1024, fence,
            ComputeAVa: a, ComputeBVa: b, ComputeElements: 16 * 1024, CounterVa: fence + 64, UnmappedVa: 0x7_0000_0000);
        return (m, space, targets);
    }

    private static ulong RunAsDmaBuffer(EngineTestMachine m, TestAddressSpace space, EngineKind engine, ReadOnlySpan<uint> packets)
    {
        var ctx = m.NewContext(space, 1);
        ulong dma = space.NewDmaBuffer(packets);
        var n = (uint)packets.Length;
        ctx.Submit((ref PacketWriter w) => w.Indirect(dma, n, privileged: false));
        m.SwitchTo(engine, ctx);
        m.RunUntilIdle(slice: 1 << 16);
        m.SwitchTo(engine, null); // the engine writes its copy of the context back on a switch away
        m.Device.Step(1_000);
        var save = m.ReadSaveArea(ctx);
        Assert.That(save.Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.None), "the encoded buffer runs without faulting");
        return save.CyclesRun;
    }

    [Test]
    public void RenderMix_RunsOnTheDevice_DrawsAndFences_InAboutItsWorkCycles()
    {
        var (m, space, t) = Machine();
        using (m)
        {
            var mix = new PacketMix(DrawRects: 2, Fill: 1, Copy: 1, WriteData: 1, Nop: 3, Fence: 1);
            var buffer = new uint[PacketMixEncoder.SizeInDwords(mix)];
            var encoded = PacketMixEncoder.Encode(buffer, mix, 4_000, t, frame: 3, fenceValue: 99, PacketCosts.Default, WorkCosts.Default);

            for (int at = 0; at < encoded.Dwords;)
            {
                Assert.That(PacketDecoder.TryDecode(buffer.AsSpan(0, encoded.Dwords), at, out var p, out var error), Is.True, $"packet at {at}: {error}");
                at += p.LengthDwords;
            }
            ulong ran = RunAsDmaBuffer(m, space, EngineKind.Render, buffer.AsSpan(0, encoded.Dwords));

            Assert.That(space.Read64(t.FenceVa), Is.EqualTo(99UL));
            Assert.That(space.Read32(t.FenceVa + 8), Is.EqualTo(3u));
            var pixels = space.ReadBytes(t.RenderTarget.Va, (int)(t.RenderTarget.PitchBytes * t.RenderTarget.Height));
            Assert.That(pixels.Where((_, i) => i % 4 == 3).Count(alpha => alpha == 0xFF), Is.GreaterThan(0), "some pixels were drawn");
            Assert.That(encoded.EstimatedCycles, Is.InRange(3_000L, 5_000L));
            Assert.That((double)ran, Is.InRange(encoded.EstimatedCycles * 0.8, encoded.EstimatedCycles * 1.5 + 1_000),
                "device cycles (deterministic) match the estimate, switch and INDIRECT costs aside");
        }
    }

    [Test]
    public void ComputeMix_IsClampedToItsBuffers_AndRunsOnTheComputeEngine()
    {
        var (m, space, t) = Machine();
        using (m)
        {
            var mix = new PacketMix(Dispatch: 1, Fence: 1);
            var buffer = new uint[PacketMixEncoder.SizeInDwords(mix)];
            var encoded = PacketMixEncoder.Encode(buffer, mix, 100_000_000, t, 0, 5, PacketCosts.Default, WorkCosts.Default);
            Assert.That(buffer[2], Is.EqualTo(t.ComputeElements), "element count clamped to the buffers");
            RunAsDmaBuffer(m, space, EngineKind.Compute, buffer.AsSpan(0, encoded.Dwords));
            Assert.That(space.Read64(t.FenceVa), Is.EqualTo(5UL));
        }
    }

    [Test]
    public void PrivilegedMisbehaviour_FaultsTheContextWithAProtectionFault()
    {
        var (m, space, t) = Machine();
        using (m)
        {
            var buffer = new uint[PacketMixEncoder.MisbehaviourDwords];
            int n = PacketMixEncoder.EncodeMisbehaviour(buffer, MisbehaviourKind.PrivilegedCommand, t);
            var ctx = m.NewContext(space, 1);
            ulong dma = space.NewDmaBuffer(buffer.AsSpan(0, n));
            ctx.Submit((ref PacketWriter w) => w.Indirect(dma, (uint)n, privileged: false));
            m.SwitchTo(EngineKind.Render, ctx);
            m.RunUntilIdle();
            Assert.That(m.ReadSaveArea(ctx).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
            Assert.That(m.DrainInterrupts().Select(i => i.Source), Does.Contain(InterruptSource.ProtectionFault));
        }
    }

    [Test]
    public void MissingTargets_AreTypedErrors()
    {
        var (m, _, t) = Machine();
        using (m)
        {
            var buffer = new uint[64];
            Assert.Throws<ArgumentException>(() => PacketMixEncoder.Encode(buffer, new PacketMix(VideoDecode: 1), 10, t, 0, 0, PacketCosts.Default, WorkCosts.Default));
            Assert.Throws<ArgumentException>(() => PacketMixEncoder.Encode(new uint[2], new PacketMix(Fence: 1), 10, t, 0, 0, PacketCosts.Default, WorkCosts.Default));
            Assert.Throws<ArgumentException>(() => PacketMixEncoder.EncodeMisbehaviour(buffer, MisbehaviourKind.HungWait, t with { CounterVa = 0 }));
        }
    }
}
