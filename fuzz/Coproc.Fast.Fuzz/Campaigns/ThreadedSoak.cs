using System.Diagnostics;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>
/// The threaded soak (not in CI): a threaded machine where, at once, two ring-0 processes FILL and WRITE_DATA their
/// allocations on render and copy and check every byte of each completed buffer; a ring-3 process streams WRITE_DATA
/// + FENCE through a user queue on the render engine (sharing it with ring 0) and storms its doorbell; a faulting
/// process submits buffers the device faults on and WAITs nobody signals (TDR) under that load. Oracle: no machine
/// thread dies, no healthy buffer ends other than Completed or with a wrong byte, no ring-3 fence goes backwards or
/// stalls for the watchdog's time, and the machine goes idle at the end with nothing pending. <c>--without ring3</c> or
/// <c>--without faults</c> leaves one load out, to tell which one a failure needs.
/// </summary>
internal sealed class ThreadedSoak(bool withRing3 = true, bool withFaults = true)
{
    public void Run(CampaignSettings settings, CampaignStats stats, Heartbeat heartbeat)
    {
        using var machine = new Machine(new MachineOptions
        {
            Device = new CoprocessorOptions { LocalMemoryBytes = 32UL << 20, SystemMemoryBytes = 64UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 20_000_000 },
            ScheduledEngines = [EngineKind.Render, EngineKind.Copy],
            Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.None },
            Mode = MachineRunMode.Threaded,
        });
        var registrar = new UserQueueRegistrar(machine.Bus, machine.Gate);
        // The ring-3 queue (as tools/Coproc.Cli/Running/Ring3ContextDriver.cs registers one).
        GpuAddressSpace space;
        AllocationHandle page;
        UserQueue queue;
        lock (machine.Scheduler.KernelLock)
        {
            var vidmm = machine.VidMm;
            space = vidmm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
            page = vidmm.Allocate(4096, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            var descriptor = vidmm.Allocate(4096, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            var ring = vidmm.Allocate(64 * 1024, 64 * 1024, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
            var save = vidmm.Allocate(4096, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
            foreach (var h in new[] { page, descriptor, save }) machine.Device.Memory.GetSpan(vidmm.PhysicalAddressOf(h, 0), 4096).Clear();
            var reg = registrar.Register(7, new UserQueueRegistrationRequest
            {
                ContextId = 0x77, Engine = EngineKind.Render, Priority = 0, TimeSliceCycles = 200_000,
                DescriptorAddress = vidmm.PhysicalAddressOf(descriptor, 0).Encoded, RingBase = vidmm.PhysicalAddressOf(ring, 0).Encoded, RingBytes = 64 * 1024,
            }, new UserQueueExecution(vidmm.PhysicalAddressOf(save, 0), space.Descriptor));
            queue = reg.Open(machine.Device.Memory);
        }
        ulong pageVa = space.MapAllocation(page);
        var fencePa = machine.VidMm.PhysicalAddressOf(page, 0);

        machine.Start();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        long healthy = 0, faulty = 0, ring3 = 0, doorbells = 0;
        void Guard(string who, Action body)
        {
            try { body(); }
            catch (Exception e) { failures.Enqueue($"{who} threw {e.GetType().FullName}: {e.Message}\n{e.StackTrace}"); stop.Cancel(); }
        }
        bool Wait(VidSchContext ctx, long id, out SubmissionStatus status)
        {
            var deadline = Stopwatch.StartNew();
            while ((status = ctx.StatusOf(id)) == SubmissionStatus.Pending)
            {
                if (machine.ThreadFailure is { } f) throw new InvalidOperationException("a machine thread failed", f);
                if (deadline.Elapsed > TimeSpan.FromSeconds(30)) return false;
                Thread.Sleep(0);
            }
            return true;
        }

        Thread Ring0(uint pid, EngineKind engine, ulong seed) => new(() => Guard($"ring-0 process {pid}", () =>
        {
            var ctx = machine.CreateContext(pid, 0, engine);
            var alloc = machine.Kmd.Allocate(pid, 64 * 1024);
            var rng = new FuzzRandom(seed);
            var sink = new CapturingSink();
            var b = new CommandBufferBuilder(sink, 1024, 64);
            var ledger = new VictimLedger(machine);
            while (!stop.IsCancellationRequested && clock.Elapsed < settings.Budget)
            {
                uint pattern = rng.NextU32() | 1;
                ulong bytes = 4096UL * (1 + (ulong)rng.Below(16));
                b.Fill(alloc, 0, pattern, bytes);
                b.WriteData(alloc, bytes - 4, [~pattern]);
                b.Flush();
                long id = machine.Kmd.Submit(pid, ctx, sink.Commands, sink.References);
                if (!Wait(ctx, id, out var status)) { failures.Enqueue($"process {pid}: a healthy buffer stayed Pending for 30 s (machine stalled)"); stop.Cancel(); return; }
                if (status != SubmissionStatus.Completed) { failures.Enqueue($"process {pid}: a healthy buffer ended {status}"); stop.Cancel(); return; }
                var mem = ledger.ReadAllocation(alloc);
                for (ulong i = 0; i < bytes - 4; i += 4)
                    if (BitConverter.ToUInt32(mem, (int)i) != pattern) { failures.Enqueue($"process {pid}: byte 0x{i:X} of its FILL is wrong"); stop.Cancel(); return; }
                if (BitConverter.ToUInt32(mem, (int)(bytes - 4)) != ~pattern) { failures.Enqueue($"process {pid}: its WRITE_DATA is wrong"); stop.Cancel(); return; }
                Interlocked.Increment(ref healthy);
                heartbeat.Beat();
            }
        })) { IsBackground = true };

        var faulter = new Thread(() => Guard("faulting process", () =>
        {
            var ctx = machine.CreateContext(9, 0, EngineKind.Render);
            var x = machine.Kmd.Allocate(9, 8192);
            var counter = machine.Kmd.Allocate(9, 4096, PlacementHint.SystemOnly);
            var sink = new CapturingSink();
            var b = new CommandBufferBuilder(sink, 256, 16);
            int n = 0;
            while (!stop.IsCancellationRequested && clock.Elapsed < settings.Budget)
            {
                if (n++ % 2 == 0) b.Copy(x, 0, x, 16, 256); // overlapping COPY: the device faults (InvalidCommand)
                else b.Wait(counter, 128);                   // nobody signals: timeout detection and recovery
                b.Flush();
                long id = machine.Kmd.Submit(9, ctx, sink.Commands, sink.References);
                if (!Wait(ctx, id, out var status)) { failures.Enqueue("the faulting process's buffer stayed Pending for 30 s (recovery lost)"); stop.Cancel(); return; }
                if (status is SubmissionStatus.Completed) { failures.Enqueue("a faulting buffer completed"); stop.Cancel(); return; }
                Interlocked.Increment(ref faulty);
                heartbeat.Beat();
            }
        })) { IsBackground = true };

        var user = new Thread(() => Guard("ring-3 process", () =>
        {
            Span<uint> p = stackalloc uint[16];
            ulong serial = 0;
            var rng = new FuzzRandom(settings.Seed ^ 0x33);
            var strategy = new UserQueueWaitStrategy(1000, 100, 1, TimeSpan.FromSeconds(30)); // a full queue for 30 s is a stall
            var sinceProgress = Stopwatch.StartNew();
            while (!stop.IsCancellationRequested && clock.Elapsed < settings.Budget)
            {
                serial++;
                var w = new PacketWriter(p);
                w.WriteData(pageVa + 64, (uint)serial);
                w.Fence(pageVa, serial);
                int at = 0;
                while (at < w.Written)
                {
                    int len = new PacketHeader(p[at]).LengthDwords;
                    queue.Write(p.Slice(at, len), strategy);
                    at += len;
                }
                queue.Flush();
                if (rng.OneIn(64)) // a doorbell storm: the same page rung many times
                    for (int k = 0; k < 256; k++) { queue.RingDoorbell(); Interlocked.Increment(ref doorbells); }
                if (serial % 256 == 0)
                {
                    ulong seen = machine.Device.Memory.Read64(fencePa);
                    if (seen + 1024 < serial && sinceProgress.Elapsed > TimeSpan.FromSeconds(30)) { failures.Enqueue($"ring-3 fence stuck at {seen} (wrote {serial})"); stop.Cancel(); return; }
                    if (seen + 1024 >= serial) sinceProgress.Restart();
                    while (machine.Device.Memory.Read64(fencePa) + 2048 < serial && !stop.IsCancellationRequested && sinceProgress.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(0);
                }
                Interlocked.Increment(ref ring3);
                heartbeat.Beat();
            }
        })) { IsBackground = true };

        var threads = new List<Thread> { Ring0(2, EngineKind.Render, settings.Seed), Ring0(3, EngineKind.Copy, settings.Seed + 1) };
        if (withFaults) threads.Add(faulter);
        if (withRing3) threads.Add(user);
        foreach (var t in threads) t.Start();
        while (threads.Any(t => t.IsAlive))
        {
            Thread.Sleep(200); // only the workers beat: a stalled machine stops them and the watchdog fires
            if (machine.ThreadFailure is not null) { stop.Cancel(); break; }
        }
        foreach (var t in threads) t.Join(TimeSpan.FromSeconds(60));
        stats.Cases = healthy + faulty + ring3;
        stats.Count("healthy ring-0 buffers right", healthy);
        stats.Count("faulting/hung buffers recovered", faulty);
        stats.Count("ring-3 submissions", ring3);
        stats.Count("storm doorbells", doorbells);
        if (machine.ThreadFailure is { } tf) throw new CampaignFailure(-1, $"a machine thread died: {tf.GetType().FullName}: {tf.Message}", tf.StackTrace ?? "", tf);
        if (failures.TryDequeue(out var first)) throw new CampaignFailure(-1, first, "  threaded: not replayable case by case; rerun with the same --seed");
        if (!machine.WaitUntilIdle(TimeSpan.FromSeconds(60))) throw new CampaignFailure(-1, "the machine did not go idle within 60 s after the load stopped", "");
        ulong final = machine.Device.Memory.Read64(fencePa);
        var settle = Stopwatch.StartNew();
        while ((final = machine.Device.Memory.Read64(fencePa)) < (ulong)ring3 && settle.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(1);
        if (final < (ulong)ring3) throw new CampaignFailure(-1, $"ring-3 submissions lost: fence {final}, submitted {ring3}", "");
    }
}
