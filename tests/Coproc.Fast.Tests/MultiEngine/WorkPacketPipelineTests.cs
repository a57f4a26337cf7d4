using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Engines.Work;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.MultiEngine;

/// <summary>
/// Engine work packets through the whole basic-model stack (UMD builder → ring-0 gate → KMD validation → VidSch of the
/// context's engine → device), against the work executors' independent references (native-layout.md §8A, §16).
/// </summary>
[TestFixture]
public sealed class WorkPacketPipelineTests
{
    private static ulong Pages(ulong bytes) => (bytes + 4095) & ~4095UL;

    private static byte[] Bytes<T>(T[] values) where T : struct => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static uint[] U32(byte[] bytes, int count) => MemoryMarshal.Cast<byte, uint>(bytes.AsSpan(0, count * 4)).ToArray();

    [TestCase(3)]
    [TestCase(11)]
    public void GameFrame_DrawRectsOnTheRenderEngine_GivesTheReferencePixels(int seed)
    {
        var scene = new DrawRectsScenario(seed, maxRects: 40);
        using var h = new SchedulingHarness(realResidency: true);
        var ctx = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var target = h.Allocate(1, Pages((ulong)scene.TargetBytes));
        var source = h.Allocate(1, Pages((ulong)scene.SourcePixels.Length * 4));
        h.Write(target, Bytes(scene.TargetPixels));
        h.Write(source, Bytes(scene.SourcePixels));

        h.Submit(1, ctx, cb => cb.DrawRects(target, scene.Target with { Va = 0 }, scene.Rects, source, scene.Source with { Va = 0 }));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        var expected = (uint[])scene.TargetPixels.Clone();
        DrawRectsReference.Draw(expected, scene.Target, scene.SourcePixels, scene.Source, scene.Rects);
        Assert.That(ctx.Completed, Is.EqualTo(1));
        Assert.That(U32(h.Read(target), expected.Length), Is.EqualTo(expected));
        Assert.That(h.Machine.Device.Engine(EngineKind.Render).BusyCycles, Is.GreaterThan(0));
    }

    private static (float[] X, float[] Y) SaxpyInputs(int n, int seed)
    {
        var rng = new Random(seed);
        var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 200 - 100)).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 200 - 100)).ToArray();
        return (x, y);
    }

    private static uint[] SaxpyReference(float a, float[] x, float[] y) =>
        x.Select((xi, i) => { float product = a * xi; return BitConverter.SingleToUInt32Bits(product + y[i]); }).ToArray();

    [Test]
    public void Saxpy_DispatchOnTheComputeEngine_GivesTheReferenceBits()
    {
        const int n = 5000;
        var (x, y) = SaxpyInputs(n, 4);
        using var h = new SchedulingHarness(realResidency: true);
        var ctx = h.Machine.CreateContext(1, 0, EngineKind.Compute);
        var xa = h.Allocate(1, Pages(n * 4));
        var ya = h.Allocate(1, Pages(n * 4 + 64));
        h.Write(xa, Bytes(x));
        h.Write(ya, new byte[64].Concat(Bytes(y)).ToArray());

        h.Submit(1, ctx, cb => cb.Saxpy(n, 96, xa, 0, ya, 64, 1.7f));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.Engine, Is.EqualTo(EngineKind.Compute));
        Assert.That(ctx.Completed, Is.EqualTo(1));
        Assert.That(U32(h.Read(ya).AsSpan(64).ToArray(), n), Is.EqualTo(SaxpyReference(1.7f, x, y)));
        Assert.That(h.Machine.Device.Engine(EngineKind.Compute).BusyCycles, Is.GreaterThan(0));
        Assert.That(h.Machine.Device.Engine(EngineKind.Render).BusyCycles, Is.Zero, "nothing ran on the render engine");
    }

    [Test]
    public void VideoEncodeThenDecode_OnTheirEngines_ReproducesTheFrame()
    {
        var rng = new Random(9);
        const uint w = 96, hgt = 40;
        var frame = new uint[w * hgt];
        for (int i = 0; i < frame.Length; i++) frame[i] = rng.Next(3) == 0 ? (uint)rng.Next() : 0xFF204060u; // runs and literals
        var surface = Surface.Packed(0, w, hgt);
        uint capacity = (uint)VideoBitstream.MaxEncodedBytes(w, hgt);
        using var h = new SchedulingHarness(realResidency: true);
        var enc = h.Machine.CreateContext(1, 0, EngineKind.VideoEncode);
        var dec = h.Machine.CreateContext(1, 0, EngineKind.VideoDecode);
        var input = h.Allocate(1, Pages(w * hgt * 4));
        var stream = h.Allocate(1, Pages(capacity));
        var size = h.Allocate(1, Pages(64));
        var output = h.Allocate(1, Pages(w * hgt * 4));
        h.Write(input, Bytes(frame));

        h.Submit(1, enc, cb => cb.VideoEncode(input, surface, stream, 0, capacity, size, 8));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        uint bytes = h.Read32(size, 8);
        Assert.That(bytes, Is.GreaterThan(0u).And.LessThanOrEqualTo(capacity));
        h.Submit(1, dec, cb => cb.VideoDecode(stream, 0, bytes, output, surface));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That((enc.Completed, dec.Completed), Is.EqualTo((1L, 1L)));
        Assert.That(U32(h.Read(output), frame.Length), Is.EqualTo(frame));
    }

    [TestCase(EngineKind.Compute)]
    [TestCase(EngineKind.Copy)]
    public void DrawRects_OnAContextOfAnotherEngine_IsRejectedAsWrongEngine_NothingQueued(EngineKind engine)
    {
        using var h = new SchedulingHarness(realResidency: true);
        var ctx = h.Machine.CreateContext(1, 0, engine);
        var target = h.Allocate(1, Pages(64 * 64 * 4));
        var ex = Assert.Throws<CommandBufferRejectedException>(() =>
            h.Submit(1, ctx, cb => { cb.Nop(); cb.DrawRects(target, Surface.Packed(0, 64, 64), [RectPrimitive.Fill(0, 0, 8, 8, 1)]); }));
        Assert.That((ex!.Reason, ex.Offset), Is.EqualTo((CommandBufferRejection.WrongEngine, 4L)));
        Assert.That(ctx.Submitted, Is.Zero);
    }

    [Test]
    public void Dispatch_OnTheRenderEngine_IsRejectedAsWrongEngine()
    {
        using var h = new SchedulingHarness(realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var a = h.Allocate(1, Pages(4096));
        var ex = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, ctx, cb => cb.Saxpy(16, 16, a, 0, a, 0, 2f)));
        Assert.That(ex!.Reason, Is.EqualTo(CommandBufferRejection.WrongEngine));
        Assert.That(ctx.Engine, Is.EqualTo(EngineKind.Render), "the default engine");
    }

    [Test]
    public void SurfaceOrBufferPastItsAllocation_IsRejectedAsOutOfBounds_NothingQueued()
    {
        using var h = new SchedulingHarness(realResidency: true);
        var render = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var compute = h.Machine.CreateContext(1, 0, EngineKind.Compute);
        var small = h.Allocate(1, Pages(64 * 64 * 4));
        // Pitch × (height − 1) + width × 4 is one row past the allocation.
        var tall = new Surface(0, 64 * 4, 64, 65, PixelFormat.Bgra8888);
        var ex = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, render, cb => cb.DrawRects(small, tall, [RectPrimitive.Fill(0, 0, 1, 1, 1)])));
        Assert.That(ex!.Reason, Is.EqualTo(CommandBufferRejection.OutOfBounds));
        // A source surface starting inside but running past its allocation.
        var src = h.Allocate(1, Pages(4096));
        ex = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, render, cb =>
            cb.DrawRects(small, Surface.Packed(0, 64, 64), [RectPrimitive.Copy(0, 0, 4, 4, 0, 0)], src, Surface.Packed(4080, 8, 1))));
        Assert.That(ex!.Reason, Is.EqualTo(CommandBufferRejection.OutOfBounds));
        // DISPATCH: 1025 elements of A do not fit 4 KiB.
        ex = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, compute, cb => cb.Saxpy(1025, 64, src, 0, small, 0, 1f)));
        Assert.That(ex!.Reason, Is.EqualTo(CommandBufferRejection.OutOfBounds));
        // A reduction's result (8 bytes) at the last 4 bytes of B.
        ex = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, compute, cb => cb.Dispatch(DispatchKernel.ReduceSumU32, 16, 16, src, 0, src, 4092)));
        Assert.That(ex!.Reason, Is.EqualTo(CommandBufferRejection.OutOfBounds));
        Assert.That((render.Submitted, compute.Submitted), Is.EqualTo((0L, 0L)));
    }

    [Test]
    public void ReadOnlyReference_ToADrawTarget_IsRejectedAsWriteNotDeclared()
    {
        using var h = new SchedulingHarness(realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var target = h.Allocate(1, Pages(16 * 16 * 4));
        var ex = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, ctx, cb =>
        {
            var s = cb.GetSpan(DrawRectsPacket.SizeInDwords(1), 1);
            DrawRectsPacket.Encode(s, Surface.Packed(0, 16, 16), [RectPrimitive.Fill(0, 0, 2, 2, 7)]);
            cb.Reference(target, 0, write: false);
            cb.Advance(DrawRectsPacket.SizeInDwords(1));
        }));
        Assert.That(ex!.Reason, Is.EqualTo(CommandBufferRejection.WriteNotDeclared));
    }

    // A long SAXPY on one compute context and short dispatches on another of equal priority.
    private static (uint[] Y, uint[] Z, long Preemptions) LongDispatch(ulong quantum)
    {
        const int n = 1 << 18, m = 4096;
        var (x, y) = SaxpyInputs(n, 21);
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = quantum }, realResidency: true, localBytes: 32UL << 20);
        var longCtx = h.Machine.CreateContext(1, 0, EngineKind.Compute);
        var other = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        var xa = h.Allocate(1, Pages(n * 4));
        var ya = h.Allocate(1, Pages(n * 4));
        var za = h.Allocate(2, Pages(m * 4));
        h.Write(xa, Bytes(x));
        h.Write(ya, Bytes(y));
        h.Submit(1, longCtx, cb => { cb.Saxpy(n, 256, xa, 0, ya, 0, 0.5f); cb.Saxpy(n, 256, xa, 0, ya, 0, -1.25f); });
        for (int k = 0; k < 4; k++)
            h.Submit(2, other, cb => cb.Dispatch(DispatchKernel.PrefixSumU32, m, 128, za, 0, za, 0));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That((longCtx.Completed, other.Completed), Is.EqualTo((1L, 4L)));
        return (U32(h.Read(ya), n), U32(h.Read(za), m), longCtx.Preemptions);
    }

    [Test]
    public void LongDispatch_PreemptedAtQuantumBoundaries_ByAnEqualPriorityContext_EndsByteIdentical()
    {
        var reference = LongDispatch(quantum: 1UL << 40);
        Assert.That(reference.Preemptions, Is.Zero);
        var preempted = LongDispatch(quantum: 3_000);
        Assert.That(preempted.Preemptions, Is.GreaterThan(0), "the long dispatch really was switched out mid-packet");
        Assert.That(preempted.Y, Is.EqualTo(reference.Y));
        Assert.That(preempted.Z, Is.EqualTo(reference.Z));
    }
}
