using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines.Work;

public class DrawRectsTests
{
    private const ulong Va = 0x0000_0004_0000_0000;

    [Test]
    public void Fill_WritesTheColourInsideTheClippedRectangle_AndLeavesPitchPaddingAlone()
    {
        using var space = new TestGpuSpace();
        var target = new Surface(Va, 40 * 4, 32, 20, PixelFormat.Bgra8888); // 8 pixels of padding per row
        space.Map(Va, 40 * 4 * 20);
        var packet = new uint[DrawRectsPacket.SizeInDwords(2)];
        DrawRectsPacket.Encode(packet, target, [RectPrimitive.Fill(-3, 18, 6, 9, 0x11223344), RectPrimitive.Fill(30, 1, 10, 2, 0xAABBCCDD)]);

        Assert.That(space.Run(packet), Is.EqualTo(WorkStatus.Done));

        var px = space.ReadU32(Va, 40 * 20);
        for (int y = 0; y < 20; y++)
        for (int x = 0; x < 40; x++)
        {
            uint expected = x < 3 && y >= 18 ? 0x11223344u : x is >= 30 and < 32 && y is 1 or 2 ? 0xAABBCCDDu : 0u;
            Assert.That(px[y * 40 + x], Is.EqualTo(expected), $"pixel ({x},{y})");
        }
    }

    [Test]
    public void Fill_OnRgbaTarget_StoresRedInByteZero()
    {
        using var space = new TestGpuSpace();
        space.Map(Va, 4096);
        var packet = new uint[DrawRectsPacket.SizeInDwords(1)];
        DrawRectsPacket.Encode(packet, Surface.Packed(Va, 4, 1, PixelFormat.Rgba8888), [RectPrimitive.Fill(0, 0, 4, 1, 0x80_11_22_33)]);

        Assert.That(space.Run(packet), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.Read(Va, 4), Is.EqualTo(new byte[] { 0x11, 0x22, 0x33, 0x80 }));
    }

    [Test]
    public void CopyAndBlend_MatchTheIndependentPerPixelModel_OnRandomScenes([Range(1, 12)] int seed)
    {
        var scene = new DrawRectsScenario(seed * 7919);
        using var space = scene.CreateSpace();

        Assert.That(space.Run(scene.Packet), Is.EqualTo(WorkStatus.Done));

        Assert.That(space.ReadU32(DrawRectsScenario.TargetVa, scene.TargetPixels.Length), Is.EqualTo(scene.Expected()));
    }

    [Test]
    public void BlendColor_GivesTheRoundedSourceOverResult()
    {
        using var space = new TestGpuSpace();
        space.Map(Va, 4096);
        space.Write<uint>(Va, [0xFF_20_40_60u, 0x00_FF_FF_FFu, 0x80_00_00_00u]);
        var packet = new uint[DrawRectsPacket.SizeInDwords(1)];
        DrawRectsPacket.Encode(packet, Surface.Packed(Va, 3, 1), [RectPrimitive.BlendColor(0, 0, 3, 1, 0x80_FF_00_00)]);

        Assert.That(space.Run(packet), Is.EqualTo(WorkStatus.Done));

        // a = 128: c = round((s·128 + d·127) / 255); alpha = round((255·128 + d_a·127) / 255), worked by hand:
        // R 36704/255 = 143.9 → 0x90, G 8128/255 = 31.9 → 0x20, B 12192/255 = 47.8 → 0x30, A 255;
        // G,B 32385/255 = 127 → 0x7F, A 32640/255 = 128 → 0x80; R 128, A 48896/255 = 191.7 → 0xC0.
        Assert.That(space.ReadU32(Va, 3), Is.EqualTo(new uint[] { 0xFF_90_20_30, 0x80_FF_7F_7F, 0xC0_80_00_00 }));
    }

    [Test]
    public void Yields_BetweenPrimitives_AndChargesSetupPlusPixelsOverRate()
    {
        using var space = new TestGpuSpace();
        space.Map(Va, 64 * 64 * 4);
        var packet = new uint[DrawRectsPacket.SizeInDwords(3)];
        DrawRectsPacket.Encode(packet, Surface.Packed(Va, 64, 64),
            [RectPrimitive.Fill(0, 0, 64, 64, 1), RectPrimitive.BlendColor(0, 0, 10, 10, 0x80000000), RectPrimitive.Fill(100, 100, 5, 5, 3)]);
        var state = default(WorkState);
        var costs = WorkCosts.Default;

        long budget = 1;
        Assert.That(WorkExecutor.Execute(Opcode.DrawRects, space.Memory, packet, ref state, ref budget, costs, out _), Is.EqualTo(WorkStatus.Yielded));
        Assert.That(state.Step, Is.EqualTo(1u), "one primitive ran, then the budget was spent");
        Assert.That(budget, Is.EqualTo(1 - (32 + 64 * 64 / 16)));

        budget = 0;
        Assert.That(WorkExecutor.Execute(Opcode.DrawRects, space.Memory, packet, ref state, ref budget, costs, out _), Is.EqualTo(WorkStatus.Yielded));
        Assert.That(state.Step, Is.EqualTo(1u), "no unit starts on an empty budget");

        budget = 1000;
        Assert.That(WorkExecutor.Execute(Opcode.DrawRects, space.Memory, packet, ref state, ref budget, costs, out _), Is.EqualTo(WorkStatus.Done));
        Assert.That(budget, Is.EqualTo(1000 - (32 + 13) - 32), "blend: 32 + ceil(100 / 8); the fully clipped primitive costs only its setup");
    }

    [Test]
    public void Fault_OnTheTargetsSecondPage_ReportsItsVa_AndResumeBlendsEachPixelExactlyOnce()
    {
        // Row of 2048 pixels = two pages; the second page is unmapped when the packet starts.
        using var space = new TestGpuSpace();
        var target = Surface.Packed(Va, 2048, 1);
        space.Map(Va, 4096);
        var initial = Enumerable.Range(0, 2048).Select(i => 0xFF000000u | (uint)i * 2654435761u >> 8).ToArray();
        space.Write<uint>(Va, initial.AsSpan(0, 1024));
        var rects = new[] { RectPrimitive.Fill(0, 0, 1, 1, 0xFFFFFFFF), RectPrimitive.BlendColor(0, 0, 2048, 1, 0x60_10_20_30) };
        var packet = new uint[DrawRectsPacket.SizeInDwords(2)];
        DrawRectsPacket.Encode(packet, target, rects);
        var state = default(WorkState);

        Assert.That(space.Run(packet, ref state), Is.EqualTo(WorkStatus.Faulted));
        Assert.That(space.LastFault, Is.EqualTo(new WorkFault(Va + 4096, TranslationStatus.InvalidAddress)));
        Assert.That(state.Step, Is.EqualTo(1u), "state points at the faulting primitive");
        var firstPage = space.ReadU32(Va, 1024);
        Assert.That(firstPage[5], Is.EqualTo(DrawRectsReference.Blend(initial[5], 0x60_10_20_30)), "pixels before the fault are done");

        space.Map(Va + 4096, 4096); // the driver pages it in
        space.Write<uint>(Va + 4096, initial.AsSpan(1024));
        Assert.That(space.Run(packet, ref state), Is.EqualTo(WorkStatus.Done));

        var expected = (uint[])initial.Clone();
        DrawRectsReference.Draw(expected, target, [], default, rects);
        Assert.That(space.ReadU32(Va, 2048), Is.EqualTo(expected));
    }

    [Test]
    public void Malformed_Packets_AreRejectedBeforeAnyPixelIsWritten()
    {
        using var space = new TestGpuSpace();
        space.Map(Va, 4096);
        var good = Surface.Packed(Va, 16, 16);
        var fill = RectPrimitive.Fill(0, 0, 4, 4, 0xFFFFFFFF);
        var cases = new (string Why, uint[] Packet)[]
        {
            ("copy without a source", Build(good, default, fill, RectPrimitive.Copy(0, 0, 2, 2, 0, 0))),
            ("unknown mode", Build(good, default, fill, new RectPrimitive(0, 0, 1, 1, (RectMode)9, 0))),
            ("misaligned pitch", Build(good with { PitchBytes = 66 }, default, fill)),
            ("unknown format", Build(good with { Format = (PixelFormat)5 }, default, fill)),
            ("pitch shorter than a row", Build(good with { PitchBytes = 32 }, default, fill)),
            ("surface past 2^48", Build(good with { Va = (1UL << 48) - 64 }, default, fill)),
            ("too wide", Build(good with { Width = 20000, PitchBytes = 80000 }, default, fill)),
        };
        foreach (var (why, packet) in cases)
        {
            Assert.That(space.Run(packet), Is.EqualTo(WorkStatus.Malformed), why);
            Assert.That(space.ReadU32(Va, 16).All(p => p == 0), why);
        }

        var counted = Build(good, default, fill);
        counted[13] = 2; // count disagrees with the length
        Assert.That(space.Run(counted), Is.EqualTo(WorkStatus.Malformed));
        var shortPacket = counted.AsSpan(0, 10).ToArray();
        shortPacket[0] = PacketHeader.Make(Opcode.DrawRects, 10);
        Assert.That(space.Run(shortPacket), Is.EqualTo(WorkStatus.Malformed));
    }

    [Test]
    public void CorruptedSavedState_IsMalformed_NotACrash()
    {
        using var space = new TestGpuSpace();
        space.Map(Va, 4096);
        var packet = Build(Surface.Packed(Va, 16, 16), default, RectPrimitive.Fill(0, 0, 4, 4, 1));
        var beyond = new WorkState { Step = 2 };
        Assert.That(space.Run(packet, ref beyond), Is.EqualTo(WorkStatus.Malformed));
        var rowOutside = new WorkState { Step = 0, SubStep = 9 };
        Assert.That(space.Run(packet, ref rowOutside), Is.EqualTo(WorkStatus.Malformed));
    }

    private static uint[] Build(Surface target, Surface source, params RectPrimitive[] rects)
    {
        var p = new uint[DrawRectsPacket.SizeInDwords(rects.Length)];
        DrawRectsPacket.Encode(p, target, source, rects);
        return p;
    }
}
