using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Driver;

// Application contexts of the machine's model (docs/models.md "Opening a context in the machine's model").
public sealed partial class Machine
{
    private readonly Dictionary<uint, MachineProcess> _processes = new();

    /// <summary>
    /// The process <paramref name="processId"/>, created on first use: its GPU address space (in the advanced model its
    /// run-list process's, created with <see cref="RunListScheduler.CreateProcess(uint, Device.Mmu.PageTableFormat)"/>), its
    /// CPU address space, and the paging fence mapped into the GPU space.
    /// </summary>
    /// <exception cref="ArgumentException">Advanced model: the process already has a run-list process made directly on
    /// <see cref="RunListScheduler"/> (one process has one GPU address space).</exception>
    public MachineProcess Process(uint processId)
    {
        ThrowIfDisposed();
        lock (Scheduler.KernelLock)
        {
            if (_processes.TryGetValue(processId, out var p)) return p;
            VaProcess? runLists = null;
            GpuAddressSpace gpu;
            ulong fenceVa;
            if (_runLists is not null)
            {
                runLists = _runLists.Scheduler.CreateProcess(processId, Options.RunLists.PageTables);
                gpu = runLists.Space;
                fenceVa = runLists.PagingFenceVa;
            }
            else
            {
                gpu = VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
                gpu.ClaimFor(processId, nameof(processId));
                fenceVa = Paging.MapPagingFence(gpu);
            }
            p = new MachineProcess(processId, gpu, VidMm.CreateCpuAddressSpace(), fenceVa, runLists);
            _processes.Add(processId, p);
            return p;
        }
    }

    /// <summary>
    /// Opens an application context of process <paramref name="processId"/> on <paramref name="engine"/> (default: the
    /// model's application engine) in the machine's <see cref="SchedulingModel"/> — the one call that gives each model's
    /// kind of context (docs/models.md "Opening a context in the machine's model"):
    /// <list type="bullet">
    /// <item><see cref="SchedulingModel.Basic"/>: a kernel-path context (<see cref="VidSchContext"/>; submit command buffers
    /// through <see cref="Kmd"/>), as <see cref="CreateContext(uint, int, EngineKind)"/>.</item>
    /// <item><see cref="SchedulingModel.Advanced"/>: on an engine the run lists drive, a run-list context in the process's GPU
    /// address space (<see cref="VaContext"/>; submit user DMA buffers); on another engine a kernel-path context.</item>
    /// <item><see cref="SchedulingModel.Hardware"/>: a ring-3 queue the kernel opens for the process through the gate
    /// (<see cref="UserQueueRegistrar.Open"/>: a fresh context id, ring and descriptor mapped into its CPU space, its
    /// doorbell page) and registers with the device's scheduling core at the granted priority, running in the process's GPU
    /// address space (<see cref="UserQueueContext"/>; write and ring it through <see cref="UserQueueContext.Registration"/>).
    /// Its time slice is the scheduler's quantum.</item>
    /// </list>
    /// Every kind is a <see cref="GpuContext"/> listed in <see cref="Contexts"/>.
    /// </summary>
    /// <param name="processId">The owning process (<see cref="Process"/> is created on first use).</param>
    /// <param name="priority">The context's priority; the hardware model's queues take 0 … 15.</param>
    /// <param name="engine">The engine; null: the default engine (<see cref="VidSchOptions.Engine"/>; advanced model: <see cref="RunListOptions.Engine"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException">Hardware model: <paramref name="priority"/> is outside 0 … 15.</exception>
    /// <exception cref="InvalidOperationException">The engine is not scheduled, or its context ids are used up.</exception>
    /// <exception cref="VidMmException">No memory for the context's kernel objects; nothing stays allocated.</exception>
    /// <exception cref="UserQueueRegistrationException">Hardware model: the registrar refused the queue (priority limit).</exception>
    /// <exception cref="DoorbellsExhaustedException">Hardware model: every doorbell is in use.</exception>
    public GpuContext OpenContext(uint processId, int priority = 0, EngineKind? engine = null)
    {
        ThrowIfDisposed();
        switch (Options.Model)
        {
            case SchedulingModel.Advanced:
            {
                var e = engine ?? Options.RunLists.Engine;
                if (!IsRunListEngine(e)) return CreateContext(processId, priority, e);
                return _runLists!.Scheduler.CreateContext(Process(processId).RunLists!, priority, e);
            }
            case SchedulingModel.Hardware:
            {
                ArgumentOutOfRangeException.ThrowIfNegative(priority);
                ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, 15);
                var e = engine ?? Options.Scheduler.Engine;
                if ((uint)e >= Engines.Count) throw new InvalidOperationException($"unknown engine {e}");
                var p = Process(processId);
                var request = new UserQueueOpenRequest
                {
                    Engine = e, Priority = (byte)priority, RingBytes = 64 << 10,
                    TimeSliceCycles = (uint)Math.Min(Options.Scheduler.QuantumCycles, uint.MaxValue),
                };
                return UserQueues.Open(processId, VidMm, p.CpuSpace, p.GpuSpace, request).Context; // its Space is p.GpuSpace
            }
            default:
                return CreateContext(processId, priority, engine ?? Options.Scheduler.Engine);
        }
    }
}
