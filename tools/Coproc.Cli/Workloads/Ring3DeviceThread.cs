using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Workloads;

/// <summary>
/// The device side of the ring-3 benchmarks: a thread that runs the real device path, <see cref="Coprocessor.Step"/> —
/// the scheduling core services the doorbells and the render engine's command processor decodes and executes every
/// packet of the user queue, writing ReadPtr back. Steps only while a doorbell is pending or a queue is slotted; otherwise
/// spins on the doorbell summary word, then parks on the doorbell interrupt line (docs/performance.md: waking costs ~40 µs).
/// </summary>
internal sealed class Ring3DeviceThread : IDisposable
{
    /// <summary>Device cycles per Step: 64 Ki one-cycle NOPs at most per call.</summary>
    public const ulong StepCycles = 1 << 16;

    /// <summary>Tight checks of the doorbell summary word before yielding.</summary>
    private const int SummarySpins = 4096;

    /// <summary>Checks of the summary word with a <see cref="Thread.Yield"/> between them before parking on the interrupt line.</summary>
    private const int SummaryYields = 4096;

    private readonly Coprocessor _device;
    private readonly Thread _thread;
    private volatile bool _stop;

    public Ring3DeviceThread(Coprocessor device)
    {
        _device = device;
        _thread = new Thread(Run) { IsBackground = true, Name = "device" };
        _thread.Start();
    }

    private void Run()
    {
        var runList = _device.SchedulingCore.RunList(EngineKind.Render);
        var vector = _device.DoorbellBlock.Vector;
        var line = _device.DoorbellBlock.Interrupt;
        while (!_stop)
        {
            // Step only when there is something to do: a rung doorbell, or a queue still slotted (it used the whole
            // step or its time slice). A Step with nothing to do costs ≈ 60 ns and touches the vector's cache lines the
            // producer rings, so idle steps are not free even after the idle-Step fast path.
            if (vector.AnyPending || !runList.IsEmpty)
            {
                _device.Step(StepCycles);
                continue;
            }
            // Nothing pending: first a tight spin on the summary word alone (a plain load per check of the one cache line
            // the doorbell vector occupies, so the producer's next ring is seen within ≈ one SpinWait(1)), then checks with
            // a yield between them, and only then the interrupt line's park. The yield phase matters on a loaded 2-core
            // machine: a producer descheduled for a time slice used to find the device thread parked, and every such ring
            // paid a wake-up (≈ 40 µs here, far more under load; docs/performance.md), while the SPSC baseline's consumer
            // only yields. Yielding hands the core to a runnable producer instead of spinning it away.
            for (int i = 0; i < SummarySpins && !vector.AnyPending && !_stop; i++) Thread.SpinWait(1);
            for (int i = 0; i < SummaryYields && !vector.AnyPending && !_stop; i++) Thread.Yield();
            if (!vector.AnyPending) line.Wait(spinIterations: 64, parkMilliseconds: 50);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _device.DoorbellBlock.Interrupt.Kick();
        _thread.Join();
    }
}
