using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Workloads;

/// <summary>
/// The device side of the ring-3 benchmarks: a thread that runs the real device path, <see cref="Coprocessor.Step"/> —
/// the scheduling core services the doorbells and the render engine's command processor decodes and executes every
/// packet of the user queue, writing ReadPtr back. Spins briefly when no queue is runnable, then parks on the doorbell
/// interrupt line (PERFORMANCE.md: waking costs ~40 µs).
/// </summary>
internal sealed class Ring3DeviceThread : IDisposable
{
    /// <summary>Device cycles per Step: 64 Ki one-cycle NOPs at most per call.</summary>
    public const ulong StepCycles = 1 << 16;

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
            _device.Step(StepCycles);
            if (runList.IsEmpty && !vector.AnyPending) line.Wait(spinIterations: 20_000, parkMilliseconds: 50);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _device.DoorbellBlock.Interrupt.Kick();
        _thread.Join();
    }
}
