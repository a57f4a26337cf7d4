using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.SaveState;

/// <summary>Records every interrupt record the machine's interrupt service routine drained, with the cycle it ran at.</summary>
internal sealed class InterruptLog(Machine machine) : IInterruptTap
{
    public List<string> Records { get; } = new();

    public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        foreach (var r in records) Records.Add($"{machine.Now}: {r}");
    }
}

/// <summary>
/// A deterministic basic-model workload for machine save-state tests, submitted up front: three processes, five
/// contexts on the render and copy engines at three priorities, managed allocations of 1.5 × local memory (so the
/// residency manager pages), a mutex shared by two contexts of one process around their sections, fills, copies and data
/// writes over them, and two vsync flips of another process. <see cref="Build"/> returns every allocation whose bytes the tests compare.
/// </summary>
internal sealed class MachineSaveStateWorkload
{
    public const ulong LocalBytes = 8UL << 20;
    private const ulong Surface = 768 << 10;
    private const int PerContext = 4;

    public static MachineOptions Options() => new()
    {
        Device = new CoprocessorOptions { LocalMemoryBytes = LocalBytes, SystemMemoryBytes = 24UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 60_000 },
        Scheduler = new VidSchOptions { QuantumCycles = 20_000 },
        Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.Modeled },
        ScheduledEngines = new[] { EngineKind.Render, EngineKind.Copy }, // an array: a collection expression here is a type of this assembly
    };

    /// <summary>Builds the machine, attaches <paramref name="trace"/> and <paramref name="interrupts"/>, and submits everything.</summary>
    public static (Machine Machine, List<AllocationHandle> Allocations, List<(int Context, long Id)> Submissions, uint Mutex) Build(
        IScheduleObserver trace, Func<Machine, IInterruptTap> interrupts)
    {
        var m = new Machine(Options());
        m.SetObserver(trace);
        m.InterruptTap = interrupts(m);
        var rng = new Random(20261207);
        var contexts = new[]
        {
            m.CreateContext(1, 0, EngineKind.Render), m.CreateContext(1, 0, EngineKind.Copy), m.CreateContext(2, 2, EngineKind.Render),
            m.CreateContext(3, 1, EngineKind.Render), m.CreateContext(3, 1, EngineKind.Copy),
        };
        var surfaces = contexts.Select(c => Enumerable.Range(0, PerContext).Select(_ => m.AllocateManaged(c.ProcessId, c, Surface)).ToArray()).ToArray();
        var log = m.Kmd.Allocate(1, 4096);
        uint mutex = m.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        var submissions = new List<(int, long)>();
        for (int n = 0; n < 30; n++)
        {
            int c = rng.Next(contexts.Length);
            var ctx = contexts[c];
            var s = surfaces[c];
            int a = rng.Next(PerContext), b = (a + 1 + rng.Next(PerContext - 1)) % PerContext;
            uint pattern = (uint)rng.Next();
            ulong pages = Surface / 4096;
            ulong fillAt = (ulong)rng.Next(0, (int)pages / 2) * 4096, fillLen = (ulong)rng.Next(1, (int)pages / 2) * 4096;
            ulong copyAt = (ulong)rng.Next(0, (int)pages / 2) * 4096, copyLen = (ulong)rng.Next(1, (int)pages / 2) * 4096;
            bool guarded = ctx.ProcessId == 1;
            if (guarded) m.Kmd.WaitOnSingleObject(1, ctx, mutex);
            submissions.Add((ctx.Id, Submit(m, ctx, cb =>
            {
                cb.Fill(s[a], fillAt, pattern, fillLen, resourceId: 0);
                cb.Copy(s[a], copyAt, s[b], copyAt, copyLen, sourceId: 0, destinationId: 1);
                cb.WriteData(s[b], 8 * (ulong)n, [pattern, (uint)n], resourceId: 1);
                if (guarded) cb.WriteData(log, 4 * (ulong)n, [(uint)ctx.Id], resourceId: 2);
            })));
            if (guarded) m.Kmd.SignalObject(1, ctx, mutex);
        }
        // Process 2 presents two frames on a flip chain of three: a fill of a primary surface, then a vsync flip to it.
        m.Display.SetMode(64, 64);
        var primaries = new[] { m.Display.CreatePrimarySurface(2), m.Display.CreatePrimarySurface(2) };
        m.Display.CreateFlipChain(contexts[2], 3);
        for (int f = 0; f < 2; f++)
        {
            var target = primaries[f];
            uint colour = 0xFF00_0000u | (uint)(0x40 * (f + 1));
            submissions.Add((contexts[2].Id, Submit(m, contexts[2], cb => cb.Fill(target, 0, colour, 64 * 64 * 4, resourceId: 0))));
            if (!m.Display.TryFlip(2, contexts[2], target, Coproc.Fast.Driver.Display.FlipKind.Vsync, out _))
                throw new InvalidOperationException("the flip chain has room for two queued flips");
        }
        var all = surfaces.SelectMany(x => x).Append(log).Concat(primaries).ToList();
        return (m, all, submissions, mutex);
    }

    private static long Submit(Machine m, VidSchContext ctx, Action<CommandBufferBuilder> build)
    {
        var sink = new CapturingSink();
        var b = new CommandBufferBuilder(sink, capacityDwords: 4096, capacityReferences: 64);
        build(b);
        b.Flush();
        return m.Kmd.Submit(ctx.ProcessId, ctx, sink.Commands, sink.References);
    }

    /// <summary>An allocation's bytes where VidMm says they live now.</summary>
    public static byte[] Read(Machine m, AllocationHandle h)
    {
        var bytes = new byte[m.VidMm.SizeOf(h)];
        int at = 0;
        foreach (var e in m.VidMm.ExtentsOf(h))
        {
            m.VidMm.Memory.GetSpan(e.Address, (int)e.Bytes).CopyTo(bytes.AsSpan(at));
            at += (int)e.Bytes;
        }
        return bytes;
    }

    public static byte[] Save(Machine m)
    {
        using var s = new MemoryStream();
        m.SaveState(s);
        return s.ToArray();
    }

    public static Machine Restore(byte[] state)
    {
        using var s = new MemoryStream(state);
        return Machine.Restore(s);
    }
}
