using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;

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
/// each ratio compares two measurements of the same run (PERFORMANCE.md). Each consumer thread is started only
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
        using var device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 4UL << 20, ApertureBytes = 1UL << 20 });
        var registrar = new UserQueueRegistrar(device, new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None }));
        var queue = registrar.Register(1, new UserQueueRegistrationRequest
        {
            ContextId = 1, Engine = EngineKind.Render, Priority = 0, TimeSliceCycles = 1_000_000,
            DescriptorAddress = PhysicalAddress.System(0x1000).Encoded, RingBase = PhysicalAddress.System(1UL << 20).Encoded,
            RingBytes = 4096 * 64,
        }).Open(device.Memory);
        var packet = new uint[16];
        packet[0] = PacketHeader.Make(Opcode.Nop, 16);
        for (int i = 1; i < 16; i++) packet[i] = (uint)i;
        using var deviceThread = new Ring3DeviceThread(device);
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

    /// <summary>Ring-0 submission of 256-byte command buffers (<see cref="Ring0SubmitPath.SubmitThroughRing0"/>, Real gate).</summary>
    public static Rate Ring0Submits(QuickBenchPlan plan)
    {
        int submits = plan.Count(1 << 14, 16);
        using var path = new Ring0SubmitPath(Ring0GatePolicy.Real);
        var buffer = Ring0SubmitPath.NopCommandBuffer(256);
        return Best(plan, submits, () =>
        {
            for (int i = 0; i < submits; i++)
                if (!path.SubmitThroughRing0(1, buffer)) throw new InvalidOperationException("the ring-0 path rejected a valid NOP buffer");
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
        var channel = Channel.CreateBounded<Payload64>(new BoundedChannelOptions(4096)
        {
            SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        long consumed = 0;
        var consumer = new Thread(() =>
        {
            var r = channel.Reader;
            int idle = 0;
            while (true)
            {
                if (r.TryRead(out var item))
                {
                    Volatile.Write(ref consumed, consumed + 1 + (item.A & 0));
                    idle = 0;
                    continue;
                }
                if (++idle < 20_000) Thread.SpinWait(1);
                else if (!r.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) return;
            }
        }) { IsBackground = true, Name = "channel-consumer" };
        consumer.Start();
        long sent = 0;
        try
        {
            return Best(plan, messages, () =>
            {
                var w = channel.Writer;
                var item = new Payload64 { A = PacketHeader.Make(Opcode.Nop, 16) };
                for (int i = 0; i < messages; i++)
                    while (!w.TryWrite(item)) Thread.SpinWait(1);
                sent += messages;
                long deadline = Deadline();
                while (Volatile.Read(ref consumed) < sent) Spin(deadline, "the channel consumer");
            });
        }
        finally
        {
            channel.Writer.TryComplete();
            consumer.Join();
        }
    }

    /// <summary>64 bytes, as the ring-3 packets.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private struct Payload64
    {
        public uint A;
    }

    /// <summary>NOP packets decoded and executed per second: a 1 MiB ring of 1-dword NOPs replayed on the copy engine.</summary>
    public static Rate CpNopPackets(QuickBenchPlan plan)
    {
        const uint ringBytes = 1 << 20;
        int packets = (int)(ringBytes / 4);
        int replays = plan.Count(8);
        using var m = new BenchMachine(16UL << 20, ringBytes);
        var w = new PacketWriter(m.RingDwords);
        for (int i = 0; i < packets; i++) w.Nop();
        m.Seal(w.Written);
        return Best(plan, (long)packets * replays, () =>
        {
            for (int r = 0; r < replays; r++) m.Replay(1UL << 40);
        });
    }

    /// <summary>A 1 MiB COPY packet through 4 KiB page tables against Buffer.MemoryCopy over the same bytes: (copy rate, memcpy rate).</summary>
    public static unsafe (Rate Packet, Rate Baseline) Copy1MiB(QuickBenchPlan plan)
    {
        const int size = 1 << 20;
        const ulong srcVa = 0x1000_0000, dstVa = 0x2000_0000;
        int reps = plan.Count(64);
        using var m = new BenchMachine(10UL << 20, 4096);
        var src = m.Map(srcVa, size);
        var dst = m.Map(dstVa, size);
        byte* s = m.Device.Memory.Local.Base + src.Offset, d = m.Device.Memory.Local.Base + dst.Offset;
        new Span<byte>(s, size).Fill(0x5A);
        var w = new PacketWriter(m.RingDwords);
        w.Copy(dstVa, srcVa, size);
        m.Seal(w.Written);
        var packet = Best(plan, reps, () => { for (int i = 0; i < reps; i++) m.Replay(1UL << 40); });
        var baseline = Best(plan, reps, () => { for (int i = 0; i < reps; i++) Buffer.MemoryCopy(s, d, size, size); });
        if (new Span<byte>(d, size).IndexOfAnyExcept((byte)0x5A) >= 0) throw new InvalidOperationException("the COPY packet did not copy");
        return (packet, baseline);
    }

    /// <summary>A 1 MiB FILL packet through page tables against Span.Fill over the same bytes: (fill rate, Span.Fill rate).</summary>
    public static unsafe (Rate Packet, Rate Baseline) Fill1MiB(QuickBenchPlan plan)
    {
        const int size = 1 << 20;
        const ulong dstVa = 0x2000_0000;
        int reps = plan.Count(64);
        using var m = new BenchMachine(10UL << 20, 4096);
        var dst = m.Map(dstVa, size);
        uint* d = (uint*)(m.Device.Memory.Local.Base + dst.Offset);
        var w = new PacketWriter(m.RingDwords);
        w.Fill(dstVa, 0xA5A5A5A5, size);
        m.Seal(w.Written);
        var packet = Best(plan, reps, () => { for (int i = 0; i < reps; i++) m.Replay(1UL << 40); });
        if (new Span<uint>(d, size / 4).IndexOfAnyExcept(0xA5A5A5A5u) >= 0) throw new InvalidOperationException("the FILL packet did not fill");
        var baseline = Best(plan, reps, () => { for (int i = 0; i < reps; i++) new Span<uint>(d, size / 4).Fill(0xA5A5A5A5); });
        return (packet, baseline);
    }

    /// <summary>TLB-hit translations per second: 64 hot pages through a 64-entry client TLB.</summary>
    public static Rate TlbHitTranslations(QuickBenchPlan plan)
    {
        const int addresses = 4096;
        int reps = plan.Count(256);
        using var t = new TranslationWorkload(2UL << 20, addresses);
        ulong sink = 0;
        var rate = Best(plan, (long)addresses * reps, () => { for (int i = 0; i < reps; i++) sink += t.TranslateAll(t.HotVas); });
        GC.KeepAlive(sink);
        return rate;
    }
}
