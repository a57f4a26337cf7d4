using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.MultiEngine;

/// <summary>Engine work packets with random surfaces, sizes, engines and references through the KMD (FsCheck).</summary>
public class WorkPacketProperties
{
    private static readonly EngineKind[] EnginesMenu = [EngineKind.Render, EngineKind.Compute, EngineKind.VideoDecode, EngineKind.VideoEncode, EngineKind.Copy];

    private static Surface RandomSurface(Random rng)
    {
        uint w = (uint)rng.Next(0, 40), hgt = (uint)rng.Next(0, 40);
        uint pitch = (uint)(w * 4 + rng.Next(-2, 6) * 4);
        var format = rng.Next(8) == 0 ? (PixelFormat)rng.Next(2, 9) : (PixelFormat)rng.Next(2);
        ulong offset = rng.Next(4) == 0 ? (ulong)rng.Next(0, 8192 / 4) * 4 : (ulong)rng.Next(0, 256) * 4;
        return new Surface(offset, pitch, w, hgt, format);
    }

    /// <summary>
    /// A work packet with random operands on a context of a random engine: the KMD rejects it with a typed reason
    /// (nothing queued) or accepts it — then it completes or faults only its own context, and memory outside the
    /// caller's allocations (another process's allocation, physically next to them) is never touched.
    /// </summary>
    [FsProperty(MaxTest = 60, Replay = "(2026120606,47515)")]
    public void WorkPacket_AnyOperands_AcceptedOrRejectedTyped_NeverTouchesAnotherProcess(int seed)
    {
        using var h = new SchedulingHarness(new VidSchOptions { TimeoutCycles = 2_000_000 }, localBytes: 4UL << 20, systemBytes: 4UL << 20);
        var rng = new Random(seed);
        int kind = rng.Next(4);
        // Mostly the packet's own engine (so operands get exercised), sometimes any engine.
        var engine = rng.Next(5) == 0 ? EnginesMenu[rng.Next(EnginesMenu.Length)] : EnginesMenu[kind];
        var ctx = h.Machine.CreateContext(1, 0, engine);
        var a = h.Allocate(1, 8192);
        var theirs = h.Allocate(2, 4096);
        var b = h.Allocate(1, 8192);
        var bystander = h.Machine.CreateContext(2);
        long bystanderId = h.Submit(2, bystander, cb => cb.Fill(theirs, 0, 0x5A5A5A5A, 4096));
        AllocationHandle Pick() => rng.Next(16) switch { 0 => theirs, 1 => new AllocationHandle(a.Index, a.Generation + 3), 2 or 3 => b, _ => a };

        var sink = new CapturingSink();
        var cb = new Coproc.Fast.Driver.Umd.CommandBufferBuilder(sink, capacityDwords: 4096, capacityReferences: 64);
        switch (kind)
        {
            case 0:
                var rects = Enumerable.Range(0, rng.Next(0, 4)).Select(_ => new RectPrimitive(rng.Next(-10, 50), rng.Next(-10, 50),
                    (uint)rng.Next(0, 60), (uint)rng.Next(0, 60), (RectMode)rng.Next(0, 4), (uint)rng.Next())).ToArray();
                var source = rng.Next(2) == 0 ? default : RandomSurface(rng);
                cb.DrawRects(Pick(), RandomSurface(rng), rects, source.IsEmpty ? default : Pick(), source);
                break;
            case 1:
                cb.Dispatch((DispatchKernel)rng.Next(0, 6), (uint)rng.Next(0, 2100), (uint)rng.Next(0, 300), Pick(), (ulong)rng.Next(0, 64) * 4,
                    Pick(), (ulong)rng.Next(0, 64) * 4, (uint)rng.Next());
                break;
            case 2:
                var stream = Pick();
                // Half the time a real CRLE stream (a repeat of one pixel) so the decoder gets past its first token.
                uint n = (uint)rng.Next(1, 129);
                // Pick() may hand out a stale handle (the KMD must reject it); only a live allocation can be written.
                if (h.Machine.VidMm.IsLive(stream)) h.Write(stream, [(byte)(0x7F + n), 0x11, 0x22, 0x33, 0x44]);
                cb.VideoDecode(stream, 0, rng.Next(2) == 0 ? 5u : (uint)rng.Next(0, 9000), Pick(), RandomSurface(rng));
                break;
            default:
                cb.VideoEncode(Pick(), RandomSurface(rng), Pick(), (ulong)rng.Next(0, 64) * 4, (uint)rng.Next(0, 8000), Pick(), (ulong)rng.Next(0, 2048) * 4);
                break;
        }
        cb.Flush();
        var refs = sink.References;
        if (rng.Next(5) == 0 && refs.Length > 0) refs[rng.Next(refs.Length)] = refs[0] with { Write = false };

        long id = 0;
        try { id = h.Kmd.Submit(1, ctx, sink.Commands, refs); }
        catch (CommandBufferRejectedException e)
        {
            Assert.That(e.Reason, Is.Not.EqualTo((CommandBufferRejection)0));
            Assert.That(ctx.Submitted, Is.Zero, "nothing queued");
        }

        Assert.That(h.Machine.RunUntilIdle(1_000_000_000), Is.True);
        if (id != 0) Assert.That(ctx.StatusOf(id), Is.AnyOf(SubmissionStatus.Completed, SubmissionStatus.FailedFault));
        Assert.That(bystander.StatusOf(bystanderId), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(theirs).All(x => x == 0x5A), Is.True, "another process's allocation is never touched");
    }
}
