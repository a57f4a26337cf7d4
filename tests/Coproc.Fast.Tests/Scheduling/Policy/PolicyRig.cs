using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// Backlogged contexts on the render engine of a deterministic machine: each context is kept at
/// <see cref="Backlog"/> outstanding buffers of its own size (fills: 64 bytes per cycle), so it always has work,
/// and its engine time is read from the device's own per-context counter (save area CyclesRun, native-layout.md §5).
/// </summary>
internal sealed class PolicyRig : IDisposable
{
    private readonly SchedulingHarness _h;
    private readonly List<Worker> _workers = new();

    public PolicyRig(ulong quantum = 100_000, int maxInFlight = 2, bool preemption = true)
    {
        _h = new SchedulingHarness(new VidSchOptions { QuantumCycles = quantum, MaxInFlight = maxInFlight, Preemption = preemption },
            localBytes: 32UL << 20, systemBytes: 16UL << 20);
    }

    public SchedulingHarness Harness => _h;

    public int Backlog { get; set; } = 3;

    public sealed class Worker
    {
        public required VidSchContext Context;
        public required AllocationHandle Target;
        public required ulong FillBytes;
        public required int FillsPerBuffer;
        public ulong StartCycle;
        public bool Active = true;
    }

    /// <summary>A context of <paramref name="priority"/> whose buffers each cost about <paramref name="cyclesPerBuffer"/> cycles.</summary>
    public Worker Add(int priority, ulong cyclesPerBuffer, ulong startCycle = 0)
    {
        uint pid = (uint)_workers.Count + 1;
        var ctx = _h.Machine.CreateContext(pid, priority);
        ulong bytes = Math.Min(cyclesPerBuffer * 64, 1UL << 20);
        var w = new Worker
        {
            Context = ctx, Target = _h.Allocate(pid, bytes), FillBytes = bytes,
            FillsPerBuffer = (int)Math.Max(1, cyclesPerBuffer * 64 / bytes), StartCycle = startCycle,
        };
        _workers.Add(w);
        return w;
    }

    /// <summary>Runs until cycle <paramref name="until"/>, keeping every active worker backlogged.</summary>
    public void RunTo(ulong until)
    {
        var m = _h.Machine;
        m.RunUntil(() =>
        {
            Refill();
            return m.Now >= until;
        }, until - m.Now + 1);
    }

    public void Refill()
    {
        foreach (var w in _workers)
        {
            if (!w.Active || _h.Machine.Now < w.StartCycle) continue;
            while (w.Context.Submitted - w.Context.Completed - w.Context.Failed < Backlog)
                _h.Submit(w.Context.ProcessId, w.Context, cb =>
                {
                    for (int i = 0; i < w.FillsPerBuffer; i++) cb.Fill(w.Target, 0, (uint)i, w.FillBytes);
                });
        }
    }

    /// <summary>Cycles the context has run on the render engine so far (live for the loaded one).</summary>
    public ulong EngineCycles(VidSchContext ctx)
    {
        var engine = _h.Machine.Device.Engine(EngineKind.Render);
        if (engine.Context.ContextId == (uint)ctx.Id) return engine.Context.CyclesRun;
        return _h.Machine.VidMm.Memory.Local.Ref<ContextSaveArea>(ctx.SaveArea.Offset).CyclesRun;
    }

    public void Dispose() => _h.Dispose();
}
