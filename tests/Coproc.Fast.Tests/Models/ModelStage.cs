using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Models;

/// <summary>A pinned, contiguous, zeroed allocation of a <see cref="ModelStage"/>: every context of the stage can use it.</summary>
internal sealed record StageBuffer(AllocationHandle Handle, PhysicalAddress Address, int Bytes);

/// <summary>
/// One application context of a <see cref="ModelStage"/> with the way its model submits work: a kernel-path context
/// (basic: command buffers through the gate, copied in and patched by the KMD), a run-list context (advanced: DMA
/// buffers the process writes with VAs of its own address space) or a ring-3 user queue (hardware: packets written into
/// the queue, one doorbell). Packets are written through a <see cref="StageRecorder"/>, which names memory by
/// <see cref="StageBuffer"/> and leaves the addressing (handle + offset, or VA) to the model.
/// </summary>
internal abstract class StageContext(ModelStage stage)
{
    protected ModelStage Stage { get; } = stage;

    /// <summary>The machine's context (its id, path, <see cref="GpuContext.IsStopped"/>).</summary>
    public abstract GpuContext Context { get; }

    /// <summary>PA of the context's save area (native-layout.md §11), which the engine writes back on every switch away.</summary>
    public abstract PhysicalAddress SaveArea { get; }

    /// <summary>The context's save area as the engine last wrote it back.</summary>
    public ContextSaveArea Saved() => SavedContextQuery.Read(Stage.Machine.Device.Memory, SaveArea);

    /// <summary>
    /// Where a saved context stands in this model's terms: the dword offset of its packet inside the DMA buffer
    /// (kernel path and run lists: the work is a DMA buffer the ring's INDIRECT names), or the ring byte position of
    /// its packet (a user queue: the packets are in the ring itself).
    /// </summary>
    public abstract ulong PositionIn(in ContextSaveArea saved);

    /// <summary>
    /// The address a packet of this context names for byte <paramref name="offset"/> of <paramref name="buffer"/>: a VA
    /// of its process's address space, or — kernel path — the kernel view's address the KMD patched in
    /// (<see cref="Coproc.Fast.Driver.VidMm.Residency.KernelViewSpace.AddressOf"/>).
    /// </summary>
    public abstract ulong AddressOf(StageBuffer buffer, ulong offset);

    /// <summary>Writes one submission with <paramref name="record"/> and hands it to the model's submission path.</summary>
    public abstract StageSubmission Submit(Action<StageRecorder> record);
}

/// <summary>What a submission's marks (<see cref="StageRecorder.Mark"/>) are in the model's position terms.</summary>
/// <param name="Marks">Each mark, in <see cref="StageContext.PositionIn"/>'s terms.</param>
internal sealed record StageSubmission(ulong[] Marks);

/// <summary>Writes packets naming memory by <see cref="StageBuffer"/> and offset; each model addresses them its own way.</summary>
internal abstract class StageRecorder
{
    /// <summary>Dword offset of the next packet in this submission.</summary>
    public abstract int Position { get; }

    /// <summary>Marks the next packet's position (reported in <see cref="StageSubmission.Marks"/>).</summary>
    public void Mark() => Marks.Add(Position);

    internal List<int> Marks { get; } = new();

    public abstract void Draw(StageBuffer target, uint width, uint height, ReadOnlySpan<RectPrimitive> primitives);
    public abstract void Fill(StageBuffer target, ulong offset, uint pattern, ulong bytes);
    public abstract void WriteData(StageBuffer target, ulong offset, uint value);
    public abstract void Fence(StageBuffer target, ulong offset, ulong value);
    public abstract void Wait(StageBuffer counter, ulong offset);
    public abstract void Signal(StageBuffer counter, ulong offset);
    public abstract void Trap(uint id);

    /// <summary>WRITE_DATA to a raw VA of the context's address space (advanced and hardware only: the kernel path has no VA of its own).</summary>
    public abstract void WriteDataToVa(ulong va, uint value);
}

/// <summary>
/// A machine in one scheduling model with application contexts the way that model makes them (docs/models.md): basic —
/// kernel-path contexts (<see cref="Machine.CreateContext(uint, int, EngineKind)"/>, render); advanced — run-list
/// contexts, one <see cref="VaProcess"/> per process id; hardware — ring-3 user queues registered with the scheduling
/// core, one GPU address space per process id. Every <see cref="StageBuffer"/> is owned by (basic) or mapped into
/// (advanced, hardware) every process of the stage.
/// </summary>
internal abstract class ModelStage : IDisposable
{
    private readonly List<StageBuffer> _buffers = new();

    protected ModelStage(MachineOptions options) => Machine = new Machine(options);

    /// <summary>A stage in <paramref name="model"/>; <paramref name="configure"/> may adjust the machine's options.</summary>
    public static ModelStage For(SchedulingModel model, Func<MachineOptions, MachineOptions>? configure = null)
    {
        var options = new MachineOptions { Model = model, Device = ModelWorkload.Device() };
        if (configure is not null) options = configure(options);
        return model switch
        {
            SchedulingModel.Basic => new KernelPathStage(options),
            SchedulingModel.Advanced => new RunListStage(options),
            _ => new UserQueueStage(options),
        };
    }

    public Machine Machine { get; }

    protected IReadOnlyList<StageBuffer> Buffers => _buffers;

    /// <summary>A new application context of <paramref name="processId"/> at <paramref name="priority"/> (0 … 15).</summary>
    public abstract StageContext NewContext(uint processId, int priority = 0);

    /// <summary>A zeroed, pinned, contiguous allocation in local memory, usable by every context of the stage.</summary>
    public StageBuffer Allocate(int bytes)
    {
        var h = Machine.Kmd.Allocate(0, (ulong)bytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        PhysicalAddress pa;
        lock (Machine.Scheduler.KernelLock) pa = Machine.VidMm.PhysicalAddressOf(h, 0);
        var b = new StageBuffer(h, pa, bytes);
        _buffers.Add(b);
        OnAllocated(b);
        return b;
    }

    protected abstract void OnAllocated(StageBuffer buffer);

    public Span<byte> Bytes(StageBuffer b) => Machine.Device.Memory.GetSpan(b.Address, b.Bytes);

    public uint Read32(StageBuffer b, ulong offset) => MemoryMarshal.Read<uint>(Bytes(b)[(int)offset..]);

    public ulong Read64(StageBuffer b, ulong offset) => MemoryMarshal.Read<ulong>(Bytes(b)[(int)offset..]);

    public void Write32(StageBuffer b, ulong offset, uint value) => MemoryMarshal.Write(Bytes(b)[(int)offset..], value);

    public void Dispose() => Machine.Dispose();

    // ---- basic: kernel-path contexts ----

    private sealed class KernelPathStage(MachineOptions options) : ModelStage(options)
    {
        private readonly HashSet<uint> _processes = new();

        public override StageContext NewContext(uint processId, int priority = 0)
        {
            if (_processes.Add(processId))
                foreach (var b in Buffers) Machine.Kmd.Process(processId).Own(b.Handle, (ulong)b.Bytes);
            return new KernelPathContext(this, Machine.CreateContext(processId, priority, EngineKind.Render));
        }

        protected override void OnAllocated(StageBuffer buffer)
        {
            foreach (var p in _processes) Machine.Kmd.Process(p).Own(buffer.Handle, (ulong)buffer.Bytes);
        }
    }

    private sealed class KernelPathContext(ModelStage stage, VidSchContext context) : StageContext(stage)
    {
        public override GpuContext Context => context;

        public override PhysicalAddress SaveArea => context.SaveArea;

        public override ulong PositionIn(in ContextSaveArea saved) => saved.IndirectOffset;

        public override ulong AddressOf(StageBuffer buffer, ulong offset)
        {
            lock (Stage.Machine.Scheduler.KernelLock)
                return ((Coproc.Fast.Driver.VidMm.Residency.ResidencyManager)Stage.Machine.Residency).View.AddressOf(buffer.Handle, offset);
        }

        public override StageSubmission Submit(Action<StageRecorder> record)
        {
            var o = Stage.Machine.Scheduler.Options;
            var umd = new CommandBufferBuilder(Stage.Machine.Kmd.SinkFor(context.ProcessId, context), o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
            var r = new KernelPathRecorder(umd);
            record(r);
            umd.Flush();
            Assert.That(umd.Flushes, Is.EqualTo(1), "one command buffer: the marks are offsets inside it");
            return new StageSubmission([.. r.Marks.Select(m => (ulong)m)]);
        }
    }

    // The UMD's builder: memory operands are (allocation, offset) with a resource-list entry each, patched by the KMD.
    private sealed class KernelPathRecorder(CommandBufferBuilder b) : StageRecorder
    {
        public override int Position => b.PendingDwords;

        public override void Draw(StageBuffer target, uint width, uint height, ReadOnlySpan<RectPrimitive> primitives) =>
            b.DrawRects(target.Handle, Surface.Packed(0, width, height), primitives);

        public override void Fill(StageBuffer target, ulong offset, uint pattern, ulong bytes) => b.Fill(target.Handle, offset, pattern, bytes);

        public override void WriteData(StageBuffer target, ulong offset, uint value) => b.WriteData(target.Handle, offset, [value]);

        public override void Fence(StageBuffer target, ulong offset, ulong value) => b.Fence(target.Handle, offset, value);

        public override void Wait(StageBuffer counter, ulong offset) => b.Wait(counter.Handle, offset);

        public override void Signal(StageBuffer counter, ulong offset) => b.Signal(counter.Handle, offset);

        public override void Trap(uint id)
        {
            var s = b.GetSpan(2);
            s[0] = PacketHeader.Make(Opcode.Trap, 2);
            s[1] = id;
            b.Advance(2);
        }

        public override void WriteDataToVa(ulong va, uint value) =>
            throw new NotSupportedException("a kernel-path context has no VA of its own: the KMD patches handles to addresses");
    }

    // ---- advanced and hardware: packets with VAs of the process's own address space ----

    private sealed class VaRecorder(Func<StageBuffer, ulong> va) : StageRecorder
    {
        private readonly uint[] _dwords = new uint[4096];
        private int _written;

        public ReadOnlySpan<uint> Written => _dwords.AsSpan(0, _written);

        public override int Position => _written;

        private PacketWriter Writer() => new(_dwords.AsSpan(_written));

        public override void Draw(StageBuffer target, uint width, uint height, ReadOnlySpan<RectPrimitive> primitives)
        {
            int n = DrawRectsPacket.SizeInDwords(primitives.Length);
            DrawRectsPacket.Encode(_dwords.AsSpan(_written, n), Surface.Packed(va(target), width, height), primitives);
            _written += n;
        }

        public override void Fill(StageBuffer target, ulong offset, uint pattern, ulong bytes)
        {
            var w = Writer();
            w.Fill(va(target) + offset, pattern, bytes);
            _written += w.Written;
        }

        public override void WriteData(StageBuffer target, ulong offset, uint value) => WriteDataToVa(va(target) + offset, value);

        public override void WriteDataToVa(ulong address, uint value)
        {
            var w = Writer();
            w.WriteData(address, value);
            _written += w.Written;
        }

        public override void Fence(StageBuffer target, ulong offset, ulong value)
        {
            var w = Writer();
            w.Fence(va(target) + offset, value);
            _written += w.Written;
        }

        public override void Wait(StageBuffer counter, ulong offset)
        {
            var w = Writer();
            w.Wait(va(counter) + offset);
            _written += w.Written;
        }

        public override void Signal(StageBuffer counter, ulong offset)
        {
            var w = Writer();
            w.Signal(va(counter) + offset);
            _written += w.Written;
        }

        public override void Trap(uint id)
        {
            var w = Writer();
            w.Trap(id);
            _written += w.Written;
        }
    }

    // ---- advanced: run-list contexts ----

    private sealed class RunListStage(MachineOptions options) : ModelStage(options)
    {
        private readonly Dictionary<uint, VaProcess> _processes = new();
        private readonly Dictionary<(VaProcess, AllocationHandle), ulong> _va = new();

        public override StageContext NewContext(uint processId, int priority = 0)
        {
            var rl = Machine.RunListScheduler;
            if (!_processes.TryGetValue(processId, out var p))
            {
                _processes.Add(processId, p = rl.CreateProcess(processId, rl.Options.PageTables));
                foreach (var b in Buffers) Map(p, b);
            }
            return new RunListContext(this, rl.CreateContext(p, priority));
        }

        protected override void OnAllocated(StageBuffer buffer)
        {
            foreach (var p in _processes.Values) Map(p, buffer);
        }

        private void Map(VaProcess p, StageBuffer b) => _va[(p, b.Handle)] = Machine.RunListScheduler.MapPinnedAllocation(p, b.Handle, (ulong)b.Bytes).Va;

        public ulong VaOf(VaProcess p, StageBuffer b) => _va[(p, b.Handle)];
    }

    private sealed class RunListContext(RunListStage stage, VaContext context) : StageContext(stage)
    {
        public override GpuContext Context => context;

        public override PhysicalAddress SaveArea => context.Hw.SaveArea;

        public override ulong PositionIn(in ContextSaveArea saved) => saved.IndirectOffset;

        public override ulong AddressOf(StageBuffer buffer, ulong offset) => stage.VaOf(context.Process, buffer) + offset;

        public override StageSubmission Submit(Action<StageRecorder> record)
        {
            var r = new VaRecorder(b => stage.VaOf(context.Process, b));
            record(r);
            var buffer = context.Process.CreateDmaBuffer(r.Written.Length);
            r.Written.CopyTo(buffer.Dwords);
            Assert.That(Stage.Machine.RunListScheduler.TrySubmit(context, buffer, r.Written.Length, [], out _), Is.True, "queued");
            return new StageSubmission([.. r.Marks.Select(m => (ulong)m)]);
        }
    }

    // ---- hardware: ring-3 user queues ----

    private sealed class UserQueueStage(MachineOptions options) : ModelStage(options)
    {
        private readonly Dictionary<uint, GpuAddressSpace> _spaces = new();
        private readonly Dictionary<(GpuAddressSpace, AllocationHandle), ulong> _va = new();
        private uint _nextId = 0x100;

        public override StageContext NewContext(uint processId, int priority = 0)
        {
            if (!_spaces.TryGetValue(processId, out var space))
            {
                lock (Machine.Scheduler.KernelLock)
                    space = Machine.VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
                _spaces.Add(processId, space);
                foreach (var b in Buffers) Map(space, b);
            }
            var registration = Machine.CreateUserQueue(processId, space, _nextId++, EngineKind.Render, (byte)priority);
            return new UserQueueStageContext(this, space, registration);
        }

        protected override void OnAllocated(StageBuffer buffer)
        {
            foreach (var s in _spaces.Values) Map(s, buffer);
        }

        private void Map(GpuAddressSpace s, StageBuffer b)
        {
            lock (Machine.Scheduler.KernelLock) _va[(s, b.Handle)] = s.MapAllocation(b.Handle);
        }

        public ulong VaOf(GpuAddressSpace s, StageBuffer b) => _va[(s, b.Handle)];
    }

    private sealed class UserQueueStageContext(UserQueueStage stage, GpuAddressSpace space, UserQueueRegistration registration) : StageContext(stage)
    {
        private readonly UserQueue _queue = registration.Open(stage.Machine.Device.Memory);

        public override GpuContext Context => registration.Context;

        public override PhysicalAddress SaveArea => registration.Context.SaveArea!.Value;

        public override ulong PositionIn(in ContextSaveArea saved) => saved.RingPosition;

        public override ulong AddressOf(StageBuffer buffer, ulong offset) => stage.VaOf(space, buffer) + offset;

        public override StageSubmission Submit(Action<StageRecorder> record)
        {
            var r = new VaRecorder(b => stage.VaOf(space, b));
            record(r);
            ulong start = _queue.WritePosition;
            ModelWorkload.Write(_queue, r.Written);
            Assert.That(_queue.WritePosition - start, Is.EqualTo((ulong)r.Written.Length * 4), "no wrap padding: the marks are ring positions");
            _queue.Flush(); // publish + one doorbell write: no gate crossing
            return new StageSubmission([.. r.Marks.Select(m => start + (ulong)m * 4)]);
        }
    }
}
