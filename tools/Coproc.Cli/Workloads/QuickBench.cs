using System.Diagnostics;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Workloads;

/// <summary>How much work each quick measurement does; <see cref="Scale"/> multiplies every count.</summary>
/// <param name="Scale">Multiplier of the base counts (1 = quick, 8 = full; tests use tiny values).</param>
/// <param name="Repeats">Timed repetitions per measurement; the best (fastest) is kept, as noise only ever slows a run down.</param>
internal sealed record QuickBenchPlan(double Scale, int Repeats)
{
    public int Count(int quickBase, int minimum = 1) => Math.Max(minimum, (int)(quickBase * Scale));
}

/// <summary>One measured rate.</summary>
internal readonly record struct Rate(double OpsPerSecond, double AllocatedBytesPerOp);

/// <summary>
/// The `coproc bench` measurements: quick versions of the perf/ suites, run one after another in this process so
/// each ratio compares two measurements of the same run (docs/performance.md). Each consumer thread is started only
/// for its own measurement: on a 2-core machine an idle spinning consumer would steal the measured one's core.
/// </summary>
internal static class QuickBench
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60); // failure guard only, never a timing assertion

    /// <summary>Runs <paramref name="body"/> (which does <paramref name="ops"/> operations) once to warm up, then <see cref="QuickBenchPlan.Repeats"/> times; the best rate.</summary>
    private static Rate Best(QuickBenchPlan plan, long ops, Action body)
    {
        body();
        double best = 0, alloc = double.MaxValue;
        for (int r = 0; r < plan.Repeats; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            long start = Stopwatch.GetTimestamp();
            body();
            long ticks = Math.Max(1, Stopwatch.GetTimestamp() - start);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            best = Math.Max(best, ops * (double)Stopwatch.Frequency / ticks);
            alloc = Math.Min(alloc, allocated / (double)ops);
        }
        return new Rate(best, alloc);
    }

    private static long Deadline() => Stopwatch.GetTimestamp() + (long)(Guard.TotalSeconds * Stopwatch.Frequency);

    // Called inside measured loops: no closure, so the ring-3 loop's allocation count is the submit path's alone.
    private static void Spin(long deadline, string what)
    {
        Thread.SpinWait(1);
        if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"{what} did not finish within {Guard.TotalSeconds} s");
    }

    /// <summary>Ring-3 submission: 64-byte NOP packets into a user queue, doorbell per packet, consumed by a device thread.</summary>
    public static Rate Ring3Submits(QuickBenchPlan plan)
    {
        int messages = plan.Count(1 << 18, 64);
        using var w = new Ring3QueueWorkload();
        var queue = w.Queue;
        var packet = w.Packet;
        return Best(plan, messages, () =>
        {
            ReadOnlySpan<uint> p = packet;
            for (int i = 0; i < messages; i++)
                while (!queue.TrySubmit(p)) Thread.SpinWait(1);
            ulong target = queue.WritePosition;
            long deadline = Deadline();
            while (queue.DeviceReadPtr != target) Spin(deadline, "the device thread");
        });
    }

    /// <summary>Ring-0 submission of 256-byte command buffers through the real KMD and VidSch (<see cref="Ring0SubmitPath.SubmitThroughRing0"/>, Real gate), executed.</summary>
    public static Rate Ring0Submits(QuickBenchPlan plan)
    {
        int submits = plan.Count(1 << 14, 16);
        using var path = new Ring0SubmitPath(Ring0GatePolicy.Real);
        var buffer = Ring0SubmitPath.NopCommandBuffer(256);
        return Best(plan, submits, () =>
        {
            for (int i = 0; i < submits; i++)
                if (!path.SubmitThroughRing0(1, buffer)) throw new InvalidOperationException("the ring-0 path rejected a valid NOP buffer");
            path.Drain(); // executed, like the ring-3 side waits for its device thread
        });
    }

    /// <summary>Baseline: the hand-written SPSC ring of 64-byte slots, publish per message.</summary>
    public static Rate SpscMessages(QuickBenchPlan plan)
    {
        int messages = plan.Count(1 << 19, 64);
        using var spsc = new SpscRing64(4096);
        var msg = new byte[64];
        long sent = 0;
        return Best(plan, messages, () =>
        {
            for (int i = 0; i < messages; i++)
            {
                while (!spsc.TryWrite(msg)) Thread.SpinWait(1);
                spsc.Publish();
            }
            sent += messages;
            long deadline = Deadline();
            while (spsc.Consumed < sent) Spin(deadline, "the SPSC consumer");
        });
    }

    /// <summary>System.Threading.Channels, bounded, single reader/writer, 64-byte structs.</summary>
    public static Rate ChannelMessages(QuickBenchPlan plan)
    {
        int messages = plan.Count(1 << 17, 64);
        using var pipe = new ChannelPipe64(4096);
        long sent = 0;
        return Best(plan, messages, () =>
        {
            var w = pipe.Writer;
            Payload64 item = default;
            item[0] = PacketHeader.Make(Opcode.Nop, 16);
            for (int i = 0; i < messages; i++)
                while (!w.TryWrite(item)) Thread.SpinWait(1);
            sent += messages;
            long deadline = Deadline();
            while (pipe.Consumed < sent) Spin(deadline, "the channel consumer");
        });
    }

    /// <summary>NOP packets decoded and executed per second: a 1 MiB ring of 1-dword NOPs replayed on the copy engine.</summary>
    public static Rate CpNopPackets(QuickBenchPlan plan)
    {
        const uint ringBytes = 1 << 20;
        int packets = (int)(ringBytes / 4);
        int replays = plan.Count(8);
        using var m = BenchMachine.NopRing(ringBytes);
        return Best(plan, (long)packets * replays, () =>
        {
            for (int r = 0; r < replays; r++) m.Replay(1UL << 40);
        });
    }

    /// <summary>A 1 MiB COPY packet through 4 KiB page tables against Buffer.MemoryCopy over the same bytes: (copy rate, memcpy rate).</summary>
    public static (Rate Packet, Rate Baseline) Copy1MiB(QuickBenchPlan plan)
    {
        int reps = plan.Count(64);
        using var w = new CopyFillWorkload(1 << 20);
        var packet = Best(plan, reps, () => { for (int i = 0; i < reps; i++) w.CopyPacket(); });
        var baseline = Best(plan, reps, () => { for (int i = 0; i < reps; i++) w.MemoryCopy(); });
        if (!w.Verify()) throw new InvalidOperationException("the COPY or FILL packet did not do its work");
        return (packet, baseline);
    }

    /// <summary>A 1 MiB FILL packet through page tables against Span.Fill over the same bytes: (fill rate, Span.Fill rate).</summary>
    public static (Rate Packet, Rate Baseline) Fill1MiB(QuickBenchPlan plan)
    {
        int reps = plan.Count(64);
        using var w = new CopyFillWorkload(1 << 20);
        var packet = Best(plan, reps, () => { for (int i = 0; i < reps; i++) w.FillPacket(); });
        if (!w.Verify()) throw new InvalidOperationException("the COPY or FILL packet did not do its work");
        var baseline = Best(plan, reps, () => { for (int i = 0; i < reps; i++) w.SpanFill(); });
        return (packet, baseline);
    }

    /// <summary>
    /// TLB-hit translations per second, from the host surface: 4-byte reads through the aperture BAR over 64 hot pages,
    /// each translated by the aperture's 64-entry TLB (<see cref="ApertureTlbWorkload"/>).
    /// </summary>
    public static Rate TlbHitTranslations(QuickBenchPlan plan)
    {
        const int addresses = 4096;
        int reps = plan.Count(256);
        using var t = new ApertureTlbWorkload(addresses);
        ulong sink = 0;
        var rate = Best(plan, (long)addresses * reps, () => { for (int i = 0; i < reps; i++) sink += t.ReadAll(); });
        GC.KeepAlive(sink);
        return rate;
    }
}
