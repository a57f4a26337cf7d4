using Coproc.Fast.Device.Core;

namespace Coproc.Fast.Workloads;

/// <summary>
/// The device side of the ring-3 benchmarks: a thread that runs the real device path, <see cref="Coprocessor.Step"/> —
/// the scheduling core services the doorbells and the render engine's command processor decodes and executes every
/// packet of the user queue, writing ReadPtr back. It uses only the host surface (docs/embedding.md §6, a host's device
/// thread): it steps while <see cref="Coprocessor.WorkPending"/> says a doorbell is pending, a queue is slotted or an
/// engine holds work; otherwise it polls that register, first in a tight spin, then with a yield between checks, then
/// parks in the doorbell wait, which a doorbell store wakes.
/// </summary>
internal sealed class Ring3DeviceThread : IDisposable
{
    /// <summary>Device cycles per Step: 64 Ki one-cycle NOPs at most per call.</summary>
    public const ulong StepCycles = 1 << 16;

    /// <summary>Tight checks of WORK_PENDING before yielding.</summary>
    private const int PendingSpins = 4096;

    /// <summary>Checks of WORK_PENDING with a <see cref="Thread.Yield"/> between them before sleeping between checks.</summary>
    private const int PendingYields = 4096;

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
        var device = _device;
        while (!_stop)
        {
            // Step only when there is something to do: a rung doorbell, a queue still slotted (it used the whole step or
            // its time slice) or an engine with work. WORK_PENDING is the device's own answer (native-layout.md §6.1).
            if (device.WorkPending != 0)
            {
                device.Step(StepCycles);
                continue;
            }
            // Nothing pending: a tight spin first (a ring is seen within about one SpinWait(1)), then checks with a yield
            // between them — on a loaded 2-core machine that hands the core to a runnable producer instead of spinning it
            // away — and only then the host's doorbell wait (DoorbellAperture.WaitForDoorbell, the ioeventfd of a KVM
            // host), which a doorbell store wakes. Sleeping instead cost the doorbell-per-64 loop up to 1 ms per wake-up
            // (13–14 ns per packet in 2 of 5 launches against 3.4–3.6 ns).
            int i = 0;
            for (; i < PendingSpins && device.WorkPending == 0 && !_stop; i++) Thread.SpinWait(1);
            for (i = 0; i < PendingYields && device.WorkPending == 0 && !_stop; i++) Thread.Yield();
            while (device.WorkPending == 0 && !_stop) device.DoorbellAperture.WaitForDoorbell(spinIterations: 64, parkMilliseconds: 50);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _device.DoorbellAperture.WakeDoorbellWaiter();
        _thread.Join();
    }
}
