using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Audit;

/// <summary>
/// Audit of the public API under hostile and edge-case arguments (project rules: "the device never throws into its host
/// and never trusts guest-written memory; the driver never lets one process's input reach another's memory or stall its
/// work; bad input gets a clear typed error with nothing lost or corrupted"). A deterministic randomized property test
/// (SplitMix64, fixed seeds, bounded iterations) drives public entry points of <see cref="Machine"/>, <see cref="Kmd"/>,
/// VidMm, run-list processes, user queues, sync objects, <see cref="PacketWriter"/>/<see cref="PacketDecoder"/>,
/// <see cref="DeviceMemory"/>, MMIO and the save-state APIs with edge values, and after each call checks that the exception
/// (if any) is one the docs name, and — every few calls — that a fresh valid job still runs with the right bytes and that
/// a bystander process's memory is unchanged.
/// </summary>
[TestFixture]
public class PublicApiRobustnessAuditTests
{
    /// <summary>SplitMix64: a tiny deterministic generator (no dependence on <see cref="Random"/>'s algorithm).</summary>
    internal sealed class SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public ulong State { get => _state; set => _state = value; }

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public int Below(int n) => (int)(Next() % (ulong)n);

        private static readonly ulong[] EdgeU64 =
        [
            0, 1, 2, 3, 4, 7, 8, 4095, 4096, 4097, 8192, 65536, 1UL << 20, 1UL << 31, uint.MaxValue, (ulong)uint.MaxValue + 1,
            1UL << 47, 1UL << 48, (1UL << 48) - 1, long.MaxValue, 1UL << 63, ulong.MaxValue - 4095, ulong.MaxValue - 1, ulong.MaxValue,
        ];

        private static readonly int[] EdgeI32 = [0, 1, -1, 2, 3, 4, 7, 255, 256, 4096, 65536, int.MaxValue, int.MinValue, int.MaxValue - 1];

        public ulong U64() => Below(4) == 0 ? Next() : EdgeU64[Below(EdgeU64.Length)];
        public uint U32() => Below(4) == 0 ? (uint)Next() : (uint)EdgeU64[Below(EdgeU64.Length)];
        public int I32() => Below(4) == 0 ? (int)Next() : EdgeI32[Below(EdgeI32.Length)];
        public bool Bool() => (Next() & 1) != 0;
    }

    /// <summary>Whether an exception is one the XML docs / docs/*.md name for bad input: the ArgumentException family,
    /// ObjectDisposedException, InvalidOperationException (with its subclasses) or one of the project's typed exceptions.</summary>
    internal static bool IsDocumented(Exception e) =>
        e is ArgumentException or InvalidOperationException or NotSupportedException
        || (e.GetType().Namespace is { } ns && (ns.StartsWith("Coproc.Fast.Device", StringComparison.Ordinal)
            || ns.StartsWith("Coproc.Fast.Driver", StringComparison.Ordinal) || ns.StartsWith("Coproc.Fast.Scenarios", StringComparison.Ordinal)));

    /// <summary>Thrown by a probe when a call that must be refused was accepted (not a documented exception).</summary>
    internal sealed class AcceptedWrongInputException(string what) : Exception($"accepted: {what}");

    /// <summary>The state a run of probes works on: a machine, its owned handles, and a bystander process's surface.</summary>
    internal sealed class World : IDisposable
    {
        public const uint Owner = 1, Bystander = 2;
        public readonly Machine M;
        public readonly Machine Other;
        public readonly List<AllocationHandle> Handles = [];
        public readonly List<AllocationHandle> Freed = [];
        public readonly List<(CpuAddressSpace Space, ulong Va)> CpuMappings = [];
        public readonly List<uint> SyncHandles = [];
        public readonly AllocationHandle BystanderSurface;
        public readonly AllocationHandle ForeignHandle;
        public readonly GpuContext Context;
        public readonly VidSchContext? KernelContext;
        public int Checks;
        public readonly Coproc.Fast.Driver.Umd.UserQueue? Queue;
        public readonly List<ulong> RunListVas = [];
        public GpuAddressSpace? Space;
        public readonly List<ulong> SpaceVas = [];
        public Coprocessor? Standalone;

        public World(SchedulingModel model)
        {
            M = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
            Other = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
            BystanderSurface = M.Kmd.Allocate(Bystander, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
            Context = M.OpenContext(Owner);
            KernelContext = Context as VidSchContext ?? M.CreateContext(Owner, 0, model == SchedulingModel.Advanced ? EngineKind.Compute : EngineKind.Render);
            ForeignHandle = Other.Kmd.Allocate(Owner, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
            var bystanderContext = M.OpenContext(Bystander);
            Assert.That(M.TrySubmit(bystanderContext, r => r.Fill(BystanderSurface, 0, 0x5A5A5A5Au, 4096)), Is.True);
            Assert.That(M.RunUntilIdle(), Is.True);
            if (Context is UserQueueContext uq) Queue = uq.Registration.Open(M.Device.Memory);
        }

        public AllocationHandle AnyHandle(SplitMix64 r) => r.Below(8) switch
        {
            0 => default,
            1 => ForeignHandle,
            2 => BystanderSurface,
            3 when Freed.Count > 0 => Freed[r.Below(Freed.Count)],
            4 => new AllocationHandle(r.I32(), r.U32()),
            _ when Handles.Count > 0 => Handles[r.Below(Handles.Count)],
            _ => new AllocationHandle(r.Below(64), (uint)r.Below(4)),
        };

        /// <summary>A fresh valid job (a fill on a new allocation of process 1) runs with the right bytes; the bystander's
        /// surface still holds what its process wrote.</summary>
        public void CheckHealthy(string after)
        {
            // A process may stall its own work (an endless WAIT in its own commands is legal); another process's fresh job
            // must still run, with the right bytes, and the bystander's memory must not change.
            Checks++;
            const uint checker = 3;
            var a = M.Kmd.Allocate(checker, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
            var fence = M.Kmd.Allocate(checker, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
            uint pattern = 0x01020304u + (uint)Checks;
            var context = M.OpenContext(checker);
            Assert.That(M.TrySubmit(context, r => { r.Fill(a, 0, pattern, 4096); r.Fence(fence, 0, (ulong)Checks); }), Is.True,
                $"a valid job is accepted after {after}");
            Assert.That(M.RunUntil(() => BitConverter.ToUInt64(ModelWorkload.Read(M, fence, 8)) == (ulong)Checks, 2_000_000_000), Is.True,
                $"another process's valid job completes after {after}");
            var bytes = ModelWorkload.Read(M, a, 4096);
            Assert.That(BitConverter.ToUInt32(bytes, 4092), Is.EqualTo(pattern), $"a valid job leaves its bytes after {after}");
            Assert.That(ModelWorkload.Read(M, BystanderSurface, 4096), Is.All.EqualTo((byte)0x5A), $"the bystander's bytes are unchanged after {after}");
        }

        public void Dispose()
        {
            M.Dispose();
            Other.Dispose();
            Standalone?.Dispose();
        }
    }

    private delegate void Probe(World w, SplitMix64 r, List<string> log);

    private static readonly (string Name, Probe Run)[] Probes =
    [
        ("VidMm.Allocate", (w, r, log) =>
        {
            ulong bytes = r.Below(3) == 0 ? r.U64() : (ulong)(r.Below(16) + 1) * 4096;
            ulong align = r.Below(3) == 0 ? r.U64() : 4096;
            var h = w.M.VidMm.Allocate(bytes, align, (PlacementHint)r.Below(5), (AllocationFlags)(r.Below(3) == 0 ? r.U32() : (uint)r.Below(64)));
            log.Add($"Allocate({bytes},{align})");
            w.Handles.Add(h);
        }),
        ("Kmd.Allocate", (w, r, log) =>
        {
            ulong bytes = r.Below(3) == 0 ? r.U64() : (ulong)(r.Below(16) + 1) * 4096;
            var h = w.M.Kmd.Allocate(r.Below(4) == 0 ? r.U32() : World.Owner, bytes, (PlacementHint)r.Below(5), (AllocationFlags)r.Below(64));
            w.Handles.Add(h);
        }),
        ("VidMm.Free", (w, r, log) =>
        {
            var h = w.AnyHandle(r);
            if (h == w.BystanderSurface) return; // freeing is a kernel-mode call on a handle; the bystander's is not given out
            w.M.VidMm.Free(h);
            w.Handles.Remove(h);
            w.Freed.Add(h);
        }),
        ("VidMm.queries", (w, r, log) =>
        {
            var h = w.AnyHandle(r);
            switch (r.Below(8))
            {
                case 0: w.M.VidMm.PhysicalAddressOf(h, r.U64()); break;
                case 1: w.M.VidMm.SizeOf(h); break;
                case 2: w.M.VidMm.ExtentsOf(h); break;
                case 3: w.M.VidMm.LocationOf(h); break;
                case 4: w.M.VidMm.FlagsOf(h); break;
                case 5: w.M.VidMm.MapCountOf(h); break;
                case 6: w.M.VidMm.IsLive(h); break;
                default: w.M.VidMm.IsCpuPinned(h); break;
            }
        }),
        ("MapToCpu", (w, r, log) =>
        {
            var space = w.M.Process(World.Owner).CpuSpace;
            var h = w.AnyHandle(r);
            if (h == w.BystanderSurface) return;
            ulong offset = r.Below(2) == 0 ? 0 : r.U64(), bytes = r.Below(2) == 0 ? 4096 : r.U64();
            ulong va = r.Bool()
                ? w.M.MapToCpu(space, h, offset, bytes, (CpuAddressHalf)r.Below(3), r.Bool())
                : w.M.VidMm.MapToCpu(space, h, offset, bytes, (CpuAddressHalf)r.Below(3), r.Bool());
            w.CpuMappings.Add((space, va));
        }),
        ("UnmapFromCpu", (w, r, log) =>
        {
            var space = w.M.Process(World.Owner).CpuSpace;
            ulong va = w.CpuMappings.Count > 0 && r.Bool() ? w.CpuMappings[r.Below(w.CpuMappings.Count)].Va + (r.Bool() ? 0 : r.U64()) : r.U64();
            if (r.Bool()) w.M.UnmapFromCpu(space, va); else w.M.VidMm.UnmapFromCpu(space, va);
        }),
        ("CpuSpace access", (w, r, log) =>
        {
            var space = w.M.Process(World.Owner).CpuSpace;
            ulong va = w.CpuMappings.Count > 0 && r.Bool() ? w.CpuMappings[r.Below(w.CpuMappings.Count)].Va + (ulong)r.Below(8192) : r.U64();
            switch (r.Below(6))
            {
                case 0: space.Read32(va); break;
                case 1: space.Read64(va); break;
                case 2: space.Write32(va, 0x5A5A5A5Au); break;
                case 3: space.TryTranslate(va, out _); break;
                case 4: w.M.VidMm.AllocationAt(space, va); break;
                default: space.Read(va, new byte[r.Below(9000)]); break;
            }
        }),
        ("Sync objects", (w, r, log) =>
        {
            uint pid = r.Below(3) == 0 ? r.U32() : World.Owner;
            uint handle = w.SyncHandles.Count > 0 && r.Bool() ? w.SyncHandles[r.Below(w.SyncHandles.Count)] : r.U32();
            var ctx = w.KernelContext;
            int op = r.Below(8);
            log.Add($"sync op {op} pid {pid} handle {handle}");
            switch (op)
            {
                case 0:
                case 1:
                    var kind = (SyncObjectKind)r.Below(5);
                    int initial = r.I32(), max = r.I32();
                    log.Add($"  create {kind} {initial} {max}");
                    w.SyncHandles.Add(w.M.Kmd.CreateSynchronizationObject(pid, kind, initial, max));
                    break;
                case 2: w.M.Kmd.DeleteSynchronizationObject(pid, handle); break;
                case 3: w.M.Kmd.ShareSynchronizationObject(pid, handle, r.Bool() ? World.Bystander : r.U32()); break;
                case 4: if (ctx is not null) w.M.Kmd.SignalObject(pid, ctx, handle); break;
                case 5: if (ctx is not null) w.M.Kmd.ResetEvent(pid, ctx, handle); break;
                case 6:
                    // A wait is only allowed on an object signalled enough not to block the context forever; waits that
                    // block are a legal way for a process to stall *itself*. Only probe the argument checking.
                    if (ctx is not null) w.M.Kmd.WaitOnMultipleObjects(pid, ctx, [], r.Bool());
                    break;
                default: if (ctx is not null) w.M.Kmd.WaitOnMultipleObjects(pid, ctx, new uint[65], true); break;
            }
        }),
        ("Kmd.Submit", (w, r, log) =>
        {
            var ctx = w.KernelContext;
            if (ctx is null) return;
            var commands = new uint[r.Below(3) == 0 ? r.Below(5000) : r.Below(64)];
            for (int i = 0; i < commands.Length; i++) commands[i] = r.Below(2) == 0 ? (uint)r.Next() : r.U32();
            var refs = new ResourceReference[r.Below(4)];
            for (int i = 0; i < refs.Length; i++) refs[i] = new ResourceReference(w.AnyHandle(r), r.U32(), (ushort)r.Below(8), r.Bool());
            w.M.Kmd.Submit(r.Below(4) == 0 ? r.U32() : World.Owner, ctx, commands, refs);
        }),
        ("Machine contexts", (w, r, log) =>
        {
            switch (r.Below(7))
            {
                case 0:
                    if (r.Bool()) w.M.CreateContext(r.U32(), r.I32(), (EngineKind)r.Below(8));
                    else w.M.CreateContext(r.Below(2) == 0 ? r.U32() : World.Owner, r.I32());
                    break;
                case 1: w.M.OpenContext(r.Below(2) == 0 ? r.U32() : World.Owner, r.I32(), r.Bool() ? (EngineKind)r.Below(8) : null); break;
                case 2: w.M.Process(r.U32()); break;
                case 3: w.M.SchedulerFor((EngineKind)r.Below(256)); break;
                case 4: w.M.TryGetContext(r.I32(), out _); break;
                case 5: w.M.IsRunListEngine((EngineKind)r.Below(256)); break;
                default:
                    w.M.CreateUserQueue(r.Below(2) == 0 ? r.U32() : World.Owner, w.M.Process(World.Owner).GpuSpace, r.U32(),
                        (EngineKind)r.Below(8), (byte)r.Below(256), r.Below(2) == 0 ? r.U32() : 4096u, r.U32());
                    break;
            }
        }),
        ("Machine.TrySubmit", (w, r, log) =>
        {
            var h = w.AnyHandle(r);
            ulong offset = r.Below(2) == 0 ? 0 : r.U64(), bytes = r.Below(2) == 0 ? 4 : r.U64();
            w.M.TrySubmit(w.Context, rec =>
            {
                switch (r.Below(6))
                {
                    case 0: rec.Fill(h, offset, 0xDEADBEEFu, bytes); break;
                    case 1: rec.Copy(h, offset, w.AnyHandle(r), r.U64(), bytes); break;
                    case 2: rec.WriteData(h, offset, 0xDEADBEEFu); break;
                    case 3: rec.Fence(h, offset, r.U64()); break;
                    case 4: rec.Signal(h, offset); break;
                    default: rec.Trap(r.U32()); break;
                }
            });
        }),
        ("UserQueue", (w, r, log) =>
        {
            if (w.Queue is not { } q) return;
            switch (r.Below(6))
            {
                case 0:
                {
                    var packet = new uint[r.Below(20)];
                    for (int i = 0; i < packet.Length; i++) packet[i] = r.Bool() ? (uint)r.Next() : r.U32();
                    q.TryWrite(packet);
                    break;
                }
                case 1: q.TryGetSpan(r.I32(), out _); break;
                case 2: q.Advance(r.I32()); break;
                case 3: q.Publish(); break;
                case 4: q.RingDoorbell(); break;
                default:
                {
                    // The process scribbles over its own ring and descriptor (guest-written memory the device must not trust).
                    var ring = w.M.Device.Memory.GetSpan(q.Descriptor, 64);
                    ring[r.Below(64)] = (byte)r.Next();
                    q.RingDoorbell();
                    break;
                }
            }
        }),
        ("RunList process", (w, r, log) =>
        {
            if (w.M.Process(World.Owner).RunLists is not { } p) return;
            var rl = w.M.RunListScheduler;
            switch (r.Below(7))
            {
                case 0: w.RunListVas.Add(p.AllocateSurface(r.Below(2) == 0 ? r.U64() : 4096).Va); break;
                case 1: w.RunListVas.Add(p.AllocatePinned(r.Below(2) == 0 ? r.U64() : 4096, (GpuMappingFlags)r.Below(4)).Va); break;
                case 2: p.MapShared(w.AnyHandle(r), (GpuMappingFlags)r.Below(4)); break;
                case 3: p.TryFind(r.U64(), out _); break;
                case 4: p.CreateDmaBuffer(r.I32()); break;
                case 5:
                {
                    var ctx = w.Context as Coproc.Fast.Driver.VidSch.RunLists.VaContext ?? rl.CreateContext(p);
                    var buffer = p.CreateDmaBuffer(64);
                    var pw = buffer.Writer();
                    ulong va = w.RunListVas.Count > 0 && r.Bool() ? w.RunListVas[r.Below(w.RunListVas.Count)] : r.U64();
                    switch (r.Below(3))
                    {
                        case 0: pw.Fill(va & ((1UL << 48) - 1), 0xDEADBEEFu, r.Below(2) == 0 ? 4096 : r.U64() & 0xFFFFF); break;
                        case 1: pw.Copy(va & ((1UL << 48) - 1), w.RunListVas.Count > 0 ? w.RunListVas[0] : 0, 4096); break;
                        default: pw.Fence(va & ((1UL << 48) - 1), r.U64()); break;
                    }
                    int dwords = r.Below(4) == 0 ? r.I32() : pw.Written;
                    var handles = new AllocationHandle[r.Below(3)];
                    for (int i = 0; i < handles.Length; i++) handles[i] = w.AnyHandle(r);
                    rl.TrySubmit(ctx, buffer, dwords, handles, out _);
                    break;
                }
                default:
                {
                    var packets = new uint[r.Below(16)];
                    for (int i = 0; i < packets.Length; i++) packets[i] = r.Bool() ? (uint)r.Next() : r.U32();
                    var ctx = w.Context as Coproc.Fast.Driver.VidSch.RunLists.VaContext ?? rl.CreateContext(p);
                    rl.TrySubmitKernelCommands(ctx, packets, out _);
                    break;
                }
            }
        }),
        ("GpuAddressSpace", (w, r, log) =>
        {
            lock (w.M.Scheduler.KernelLock)
            {
                var space = w.Space ??= w.M.VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
                ulong va = w.SpaceVas.Count > 0 && r.Bool() ? w.SpaceVas[r.Below(w.SpaceVas.Count)] : r.U64();
                switch (r.Below(7))
                {
                    case 0: w.SpaceVas.Add(space.Reserve(r.Below(2) == 0 ? r.U64() : 8192, r.Below(2) == 0 ? r.U64() : 4096)); break;
                    case 1: space.ReserveAt(va, r.Below(2) == 0 ? r.U64() : 4096); w.SpaceVas.Add(va); break;
                    case 2: space.Release(va); break;
                    case 3: space.Map(va, w.AnyHandle(r), r.Below(2) == 0 ? 0 : r.U64(), r.Below(2) == 0 ? 4096 : r.U64(), (GpuMappingFlags)r.Below(4)); break;
                    case 4: space.Unmap(va); break;
                    case 5:
                    {
                        var h = w.AnyHandle(r);
                        if (h != w.BystanderSurface) w.SpaceVas.Add(space.MapAllocation(h, (GpuMappingFlags)r.Below(4)));
                        break;
                    }
                    default: space.IsMappingStart(va); break;
                }
            }
        }),
        ("Wrong machine's objects", (w, r, log) =>
        {
            // Every one of these must be refused (a documented exception): another machine's context, space or buffer.
            int op = r.Below(7);
            switch (op)
            {
                case 0: w.M.TrySubmit(w.Other.OpenContext(World.Owner), rec => rec.Trap(1)); break;
                case 1: w.M.Kmd.Submit(World.Owner, w.Other.CreateContext(World.Owner, 0, EngineKind.Compute), [0u], []); break;
                case 2: w.M.MapToCpu(w.Other.Process(World.Owner).CpuSpace, w.Handles.Count > 0 ? w.Handles[0] : w.ForeignHandle, 0, 4096, CpuAddressHalf.User); break;
                case 3: w.M.CreateUserQueue(World.Owner, w.Other.Process(World.Owner).GpuSpace, 0x300, EngineKind.Render); break;
                case 4: w.M.Kmd.SinkFor(World.Owner, w.Other.CreateContext(World.Owner, 0, EngineKind.Compute)).Submit([0u], []); break;
                case 5: w.M.UnmapFromCpu(w.Other.Process(World.Owner).CpuSpace, CpuAddressSpace.UserBase); break;
                default:
                    if (w.M.Process(World.Owner).RunLists is not { } p || w.Other.Process(World.Owner).RunLists is not { } op2) return;
                    w.M.RunListScheduler.TrySubmit(w.M.RunListScheduler.CreateContext(p), op2.CreateDmaBuffer(16), 1, [], out _);
                    break;
            }
            throw new AcceptedWrongInputException($"another machine's object (case {op})");
        }),
        ("KmdProcess", (w, r, log) =>
        {
            var kp = w.M.Kmd.Process(r.Below(3) == 0 ? r.U32() : World.Owner);
            var h = w.AnyHandle(r);
            switch (r.Below(3))
            {
                case 0: kp.TryGetSize(h, out _); break;
                case 1: if (h != w.BystanderSurface) kp.Own(h, r.U64()); break;
                default: if (h != w.BystanderSurface) kp.Disown(h); break;
            }
        }),
        ("AllocateAndMap / UnmapAndFree", (w, r, log) =>
        {
            var space = w.M.Process(World.Owner).CpuSpace;
            if (r.Bool())
            {
                var (h, va) = w.M.VidMm.AllocateAndMap(space, r.Below(2) == 0 ? r.U64() : 4096, (CpuAddressHalf)r.Below(3),
                    (PlacementHint)r.Below(5), (AllocationFlags)r.Below(64), r.Below(2) == 0 ? r.U64() : 4096);
                w.Handles.Add(h);
                w.CpuMappings.Add((space, va));
            }
            else
            {
                ulong va = w.CpuMappings.Count > 0 && r.Bool() ? w.CpuMappings[r.Below(w.CpuMappings.Count)].Va : r.U64();
                w.M.VidMm.UnmapAndFree(space, va);
            }
        }),
        ("Doorbell page from CPU mapping", (w, r, log) =>
        {
            var space = w.M.Process(World.Owner).CpuSpace;
            ulong va = w.CpuMappings.Count > 0 && r.Bool() ? w.CpuMappings[r.Below(w.CpuMappings.Count)].Va : r.U64();
            var page = Coproc.Fast.Driver.Umd.DoorbellPage.FromCpuMapping(space, va);
            page.Ring(r.U32());
        }),
        ("Standalone device MMIO writes", (w, r, log) =>
        {
            var d = w.Standalone ??= new Coprocessor(ModelWorkload.Device());
            for (int i = 0; i < 8; i++)
            {
                uint off = r.Below(3) == 0 ? r.U32() : (uint)r.Below(0x2000) & ~3u;
                if (r.Bool()) d.Mmio.Write32(off, r.U32()); else d.Mmio.Write64(off, r.U64());
            }
            d.Step((ulong)r.Below(100_000));
        }),
        ("UMD builder → KMD", (w, r, log) =>
        {
            var ctx = w.KernelContext;
            if (ctx is null) return;
            var o = w.M.Scheduler.Options;
            var umd = new Coproc.Fast.Driver.Umd.CommandBufferBuilder(w.M.Kmd.SinkFor(r.Below(4) == 0 ? r.U32() : World.Owner, ctx),
                o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
            var h = w.AnyHandle(r);
            ulong offset = r.Below(2) == 0 ? 0 : r.U64(), bytes = r.Below(2) == 0 ? 4 : r.U64();
            switch (r.Below(9))
            {
                case 0: umd.Fill(h, offset, 0xDEADBEEFu, bytes); break;
                case 1: umd.Copy(w.AnyHandle(r), r.U64(), h, offset, bytes); break;
                case 2: umd.WriteData(h, offset, [1u, 2u, 3u]); break;
                case 3: umd.Fence(h, offset, r.U64(), (ushort)r.Below(20), r.Bool()); break;
                case 4: umd.Signal(h, offset, (ushort)r.Below(20)); break;
                case 5:
                    umd.DrawRects(h, new Coproc.Fast.Device.Engines.Work.Surface(offset, r.U32(), r.U32(), r.U32(), (Coproc.Fast.Device.Engines.Work.PixelFormat)r.Below(4)),
                        [Coproc.Fast.Device.Engines.Work.RectPrimitive.Fill(r.I32(), r.I32(), r.U32(), r.U32(), 0xFF00FF00u)]);
                    break;
                case 6: umd.Reference(h, (ushort)r.Below(70000 & 0xFFFF), r.Bool()); umd.Nop(r.Below(3) == 0 ? r.I32() : 1); break;
                case 7: umd.Saxpy(r.U32(), r.U32(), h, offset, w.AnyHandle(r), r.U64(), 2f); break;
                default: umd.GetSpan(r.I32(), r.I32()); umd.Advance(r.I32()); break;
            }
            umd.Flush();
        }),
        ("Machine.TrySubmit draw", (w, r, log) =>
        {
            var h = w.AnyHandle(r);
            w.M.TrySubmit(w.Context, rec => rec.DrawRects(h,
                new Coproc.Fast.Device.Engines.Work.Surface(r.Below(2) == 0 ? 0 : r.U64(), r.U32(), r.Below(2) == 0 ? 16 : r.U32(), r.Below(2) == 0 ? 16 : r.U32(),
                    (Coproc.Fast.Device.Engines.Work.PixelFormat)r.Below(4)),
                [Coproc.Fast.Device.Engines.Work.RectPrimitive.Fill(r.I32(), r.I32(), r.U32(), r.U32(), 0xFF00FF00u),
                 Coproc.Fast.Device.Engines.Work.RectPrimitive.Copy(r.I32(), r.I32(), r.U32(), r.U32(), (ushort)r.Next(), (ushort)r.Next())]));
        }),
        ("DeviceMemory", (w, r, log) =>
        {
            var mem = w.M.Device.Memory;
            // PhysicalAddress.Decode documents FormatException for reserved bits; a decodable address is what reaches memory.
            var pa = r.Below(3) == 0 && PhysicalAddress.TryDecode(r.U64(), out var decoded)
                ? decoded
                : new PhysicalAddress((MemoryLocation)r.Below(2), r.U64() & PhysicalAddress.OffsetMask);
            switch (r.Below(8))
            {
                case 0: mem.Read32(pa); break;
                case 1: mem.Read64(pa); break;
                case 2: mem.GetSpan(pa, r.I32()); break;
                case 3: mem.TryGetSpan(pa, r.I32(), out _); break;
                case 4: mem.Contains(pa, r.U64()); break;
                case 5: mem.Read(pa, new byte[r.Below(9000)]); break;
                case 6: mem.SizeOf((MemoryLocation)r.Below(256)); break;
                default: unsafe { mem.TryPointer((MemoryLocation)r.Below(8), r.U64(), r.U64()); } break;
            }
        }),
        ("LocalMemoryBar", (w, r, log) =>
        {
            var bar = w.M.Device.LocalMemoryBar;
            ulong off = r.U64();
            switch (r.Below(3))
            {
                case 0: bar.Read32(off); break;
                case 1: bar.Read64(off); break;
                default: bar.Read(off, new byte[r.Below(9000)]); break;
            }
        }),
        ("MMIO read", (w, r, log) =>
        {
            uint off = r.Below(2) == 0 ? r.U32() : (uint)r.Below(0x4000);
            if (r.Bool()) w.M.Device.Mmio.Read32(off); else w.M.Device.Mmio.Read64(off);
            if (r.Bool()) w.M.Bus.ReadRegister32(off); else w.M.Bus.ReadRegister(off);
        }),
        ("Doorbell aperture", (w, r, log) =>
        {
            var db = w.M.Device.DoorbellAperture;
            ulong off = r.U64();
            if (r.Bool()) db.Read32(off);
            else db.Write32(off, r.U32(), r.Bool() ? World.Owner : r.U32());
            DoorbellAperture_PageOffset(r);
        }),
        ("Aperture", (w, r, log) =>
        {
            var ap = w.M.Device.Aperture;
            ulong off = r.U64();
            if (r.Bool()) ap.Read(off, new byte[r.Below(9000)]); else ap.Read32(off, out _);
        }),
        ("PacketWriter", (w, r, log) =>
        {
            var buffer = new uint[r.Below(12)];
            var pw = new PacketWriter(buffer);
            switch (r.Below(10))
            {
                case 0: pw.Fill(r.U64(), r.U32(), r.U64()); break;
                case 1: pw.Copy(r.U64(), r.U64(), r.U64()); break;
                case 2: pw.Fence(r.U64(), r.U64(), (FenceKind)r.Below(8), r.Bool()); break;
                case 3: pw.Nop(r.I32()); break;
                case 4: pw.Advance(r.I32()); break;
                case 5: pw.GetSpan(r.I32()); break;
                case 6: pw.Indirect(r.U64(), r.U32(), r.Bool()); break;
                case 7: pw.Flip(r.U64(), r.Bool()); break;
                case 8: pw.PrivilegedFence(r.U64(), r.U64(), (FenceKind)r.Below(8), r.Bool()); break;
                default: pw.DisableContextSwitch(); pw.EnableContextSwitch(); break;
            }
        }),
        ("PacketDecoder", (w, r, log) =>
        {
            var stream = new uint[r.Below(16)];
            for (int i = 0; i < stream.Length; i++) stream[i] = r.Bool() ? (uint)r.Next() : r.U32();
            int offset = r.Below(3) == 0 ? r.I32() : r.Below(stream.Length + 2) - 1;
            PacketDecoder.TryDecode(stream, offset, out _, out _);
        }),
        ("Restore garbage", (w, r, log) =>
        {
            var state = new MemoryStream();
            w.M.SaveState(state);
            var bytes = state.ToArray();
            int mode = r.Below(3);
            if (mode == 0) Array.Resize(ref bytes, r.Below(bytes.Length));
            else for (int i = 0, n = 1 + r.Below(8); i < n; i++) bytes[r.Below(Math.Min(bytes.Length, mode == 1 ? 256 : bytes.Length))] ^= (byte)(1 + r.Below(255));
            Machine? restored = null;
            try { restored = Machine.Restore(new MemoryStream(bytes)); }
            finally { restored?.Dispose(); }
        }),
        ("Device RestoreState garbage", (w, r, log) =>
        {
            using var device = new Coprocessor(ModelWorkload.Device());
            var state = new MemoryStream();
            device.SaveState(state);
            var bytes = state.ToArray();
            if (r.Bool()) Array.Resize(ref bytes, r.Below(bytes.Length));
            else for (int i = 0, n = 1 + r.Below(8); i < n; i++) bytes[r.Below(Math.Min(bytes.Length, 512))] ^= (byte)(1 + r.Below(255));
            device.RestoreState(new MemoryStream(bytes));
            device.Step(10_000);
        }),
    ];

    private static void DoorbellAperture_PageOffset(SplitMix64 r) => Coproc.Fast.Device.Doorbells.DoorbellAperture.PageOffset(r.I32());

    /// <summary>Runs <paramref name="steps"/> random probes on one machine; returns the undocumented outcomes.</summary>
    internal static List<string> Explore(SchedulingModel model, ulong seed, int steps, Func<string, bool>? include = null,
        Dictionary<string, int>? outcomes = null)
    {
        var failures = new List<string>();
        var r = new SplitMix64(seed);
        using var w = new World(model);
        var log = new List<string>();
        var recent = new List<string>();
        var probes = Probes.Where(p => include?.Invoke(p.Name) ?? true).ToArray();
        for (int step = 0; step < steps; step++)
        {
            var (name, run) = probes[r.Below(probes.Length)];
            recent.Add(name);
            try { run(w, r, log); Count(outcomes, $"{name}: ok"); }
            catch (Exception e) when (!IsDocumented(e))
            {
                failures.Add($"{model} seed {seed} step {step} {name}: {e.GetType().Name}: {e.Message}\n{e.StackTrace?.Split('\n').Take(4).Aggregate((a, b) => a + "\n" + b)}");
            }
            catch (Exception e) { Count(outcomes, $"{name}: {e.GetType().Name}"); /* documented refusal */ }
            if (step % 16 == 15)
            {
                try { w.CheckHealthy($"{name} (step {step})"); }
                catch (Exception e) when (e is not NUnit.Framework.AssertionException)
                {
                    failures.Add($"{model} seed {seed} step {step} health after {name}: {e.GetType().Name}: {e.Message}");
                    break;
                }
                catch (NUnit.Framework.AssertionException e)
                {
                    failures.Add($"{model} seed {seed} step {step} health after {string.Join(", ", recent.TakeLast(16))}: {e.Message}");
                    break;
                }
            }
        }
        return failures;
    }

    /// <summary>Replays chosen steps (probe index, generator state) on a fresh world; true when the health check fails.</summary>
    internal static bool Replay(SchedulingModel model, IReadOnlyList<(int Probe, ulong State)> steps, List<string>? names = null)
    {
        using var w = new World(model);
        var log = new List<string>();
        foreach (var (probe, state) in steps)
        {
            if (probe < 0) { try { w.CheckHealthy("check"); } catch (Exception) { return true; } continue; }
            var r = new SplitMix64(0) { State = state };
            names?.Add(Probes[probe].Name);
            try { Probes[probe].Run(w, r, log); } catch (Exception) { }
        }
        names?.AddRange(log);
        try { w.CheckHealthy("replay"); return false; }
        catch (Exception) { return true; }
    }

    [Explicit("audit: diagnostic minimizer (how the CreateContext stall was reduced to two sync calls)")]
    [TestCase(SchedulingModel.Advanced, 2UL, 48)]
    public void Minimize(SchedulingModel model, ulong seed, int count)
    {
        // Regenerates the exploration's steps (each probe's generator state, and the health checks between them), then
        // drops every step whose removal keeps the final health check failing.
        var steps = new List<(int, ulong)>();
        var r = new SplitMix64(seed);
        using (var w = new World(model))
        {
            var log = new List<string>();
            for (int i = 0; i < count; i++)
            {
                int p = r.Below(Probes.Length);
                steps.Add((p, r.State));
                try { Probes[p].Run(w, r, log); } catch (Exception) { }
                if (i % 16 == 15 && i != count - 1) { steps.Add((-1, 0)); try { w.CheckHealthy("x"); } catch (Exception) { } }
            }
        }
        TestContext.Out.WriteLine($"full replay fails: {Replay(model, steps)}");
        for (int i = steps.Count - 1; i >= 0; i--)
        {
            var without = steps.Where((_, j) => j != i).ToList();
            if (Replay(model, without)) steps = without;
        }
        var names = new List<string>();
        Replay(model, steps, names);
        foreach (var (p, st) in steps) TestContext.Out.WriteLine($"{(p < 0 ? "check" : Probes[p].Name)} state=0x{st:X16}");
        foreach (var n in names) TestContext.Out.WriteLine("log: " + n);
    }

    private static void Count(Dictionary<string, int>? outcomes, string key)
    {
        if (outcomes is not null) outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
    }

    [Test]
    public void Explore_PrintAll([Values] SchedulingModel model, [Values(1UL, 2UL, 3UL, 4UL, 5UL, 6UL, 7UL, 8UL)] ulong seed)
    {
        var outcomes = new Dictionary<string, int>();
        var failures = Explore(model, seed, 600, outcomes: outcomes);
        foreach (var (k, v) in outcomes.OrderBy(kv => kv.Key, StringComparer.Ordinal)) TestContext.Out.WriteLine($"{k} x{v}");
        foreach (var f in failures.Distinct()) TestContext.Out.WriteLine(f);
        Assert.That(failures, Is.Empty);
    }
}

/// <summary>Minimal reproducers of the problems <see cref="PublicApiRobustnessAuditTests"/> found, one per problem.</summary>
[TestFixture]
public class PublicApiRobustnessAuditReproducers
{
    private static byte[] WithTypeNameCorrupted(byte[] state, string find, string replace)
    {
        var bytes = (byte[])state.Clone();
        var needle = System.Text.Encoding.UTF8.GetBytes(find);
        var with = System.Text.Encoding.UTF8.GetBytes(replace);
        Assert.That(with.Length, Is.EqualTo(needle.Length), "premise: same length, so the length prefix still fits");
        int at = bytes.AsSpan().IndexOf(needle);
        Assert.That(at, Is.GreaterThanOrEqualTo(0), "premise: the stream names the type");
        with.CopyTo(bytes, at);
        return bytes;
    }

    [Test]
    public void Coprocessor_RestoreState_ACorruptTypeName_IsADeviceStateException_NotFileLoadException()
    {
        // Found: a save-state whose type name has a malformed assembly name made RestoreState throw FileLoadException (from
        // Type.GetType), outside its documented DeviceStateException, leaving the device half-restored (no Reset).
        using var device = new Coprocessor(ModelWorkload.Device());
        var state = new MemoryStream();
        device.SaveState(state);
        var bytes = WithTypeNameCorrupted(state.ToArray(), ", Coproc.Fast.Device, Version=", ", Coproc=Fast=Device, Version=");

        Assert.That(() => device.RestoreState(new MemoryStream(bytes)), Throws.TypeOf<DeviceStateException>());
        // The device was reset and still works.
        device.RestoreState(new MemoryStream(state.ToArray()));
        Assert.That(() => device.Step(1000), Throws.Nothing);
    }

    [Test]
    public void Coprocessor_RestoreState_ATypeOfAnotherAssembly_IsRefused_WithoutLoadingIt()
    {
        // Found: the device's state reader resolved any assembly-qualified name, so a crafted stream could make it load (and
        // instantiate uninitialized objects of) types of any assembly on the probing path. Only the walked assemblies are
        // resolved now; the driver's assembly (same length name) is not one of the device's.
        using var device = new Coprocessor(ModelWorkload.Device());
        var state = new MemoryStream();
        device.SaveState(state);
        var bytes = WithTypeNameCorrupted(state.ToArray(), ", Coproc.Fast.Device, Version=", ", Coproc.Fast.Driver, Version=");

        var e = Assert.Throws<DeviceStateException>(() => device.RestoreState(new MemoryStream(bytes)));
        Assert.That(e!.Message, Does.Contain("type"));
    }

    [Test]
    public void Machine_Restore_ACorruptTypeName_IsAMachineStateException()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Basic, Device = ModelWorkload.Device() });
        var state = new MemoryStream();
        m.SaveState(state);
        var bytes = WithTypeNameCorrupted(state.ToArray(), ", Coproc.Fast.Driver, Version=", ", Coproc=Fast=Driver, Version=");

        Assert.That(() => Machine.Restore(new MemoryStream(bytes))?.Dispose(), Throws.TypeOf<MachineStateException>());
    }
}

/// <summary>Reproducers: a kernel-path context on an engine the run lists drive (advanced model).</summary>
[TestFixture]
public class PublicApiRobustnessAuditContextReproducers
{
    private static bool FillRuns(Machine m, uint processId, uint pattern, ulong fenceValue)
    {
        var a = m.Kmd.Allocate(processId, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var fence = m.Kmd.Allocate(processId, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(processId);
        Assert.That(m.TrySubmit(context, r => { r.Fill(a, 0, pattern, 4096); r.Fence(fence, 0, fenceValue); }), Is.True);
        bool done = m.RunUntil(() => BitConverter.ToUInt64(ModelWorkload.Read(m, fence, 8)) == fenceValue, 2_000_000_000);
        return done && BitConverter.ToUInt32(ModelWorkload.Read(m, a, 4096), 4092) == pattern;
    }

    [Test]
    public void Advanced_CreateContextWithoutAnEngine_OnTheRunListEngine_IsRefused_LikeTheEngineOverload()
    {
        // Found: Machine.CreateContext(pid, priority) skipped the run-list-engine check of CreateContext(pid, priority,
        // engine) and made a kernel-path context on the advanced model's Render engine. One signal (even a valid one) on
        // it, after another process's run-list context had run, left that process's next run-list context never
        // scheduled (2e9 cycles, fence never written).
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Advanced, Device = ModelWorkload.Device() });

        Assert.That(() => m.CreateContext(1), Throws.InvalidOperationException.With.Message.Contains("run lists"));
        Assert.That(() => m.CreateContext(1, 0, EngineKind.Render), Throws.InvalidOperationException);
        // The scheduler's own public CreateContext refuses it too (the invariant lives in VidSchScheduler, not only in
        // the machine's overloads), and an engine the run lists do not drive still takes kernel-path contexts.
        Assert.That(() => m.SchedulerFor(EngineKind.Render).CreateContext(1), Throws.InvalidOperationException.With.Message.Contains("run lists"));
        Assert.That(m.Contexts, Is.Empty, "nothing created");
        Assert.That(m.SchedulerFor(EngineKind.Compute).CreateContext(1), Is.Not.Null);
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void SignallingAnUnownedMutex_OnAKernelPathContext_AnotherProcesssWorkStillRuns(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var ctx = model == SchedulingModel.Advanced ? m.CreateContext(1, 0, EngineKind.Compute) : m.CreateContext(1);
        uint mutex = m.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        Assert.That(FillRuns(m, 3, 0x11111111u, 1), Is.True, "premise");

        m.Kmd.SignalObject(1, ctx, mutex); // misuse: drops the signal and records a SyncFault on ctx alone

        Assert.That(FillRuns(m, 3, 0x22222222u, 2), Is.True, "another process's job runs");
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(m.SchedulerFor(ctx.Engine).QueryContextSync(ctx).LastFault, Is.EqualTo(SyncFault.MutexNotOwned), "the misuse is recorded on the signalling context");
    }
}

/// <summary>Reproducers: another machine's address spaces handed to a machine.</summary>
[TestFixture]
public class PublicApiRobustnessAuditForeignSpaceReproducers
{
    [Test]
    public void UnmapFromCpu_WithAnotherMachinesSpace_IsRefused_AndThisMachinesAllocationKeepsItsMapping()
    {
        // Found: VidMm looked the VA up in the other machine's space, then decremented the map count of *this* machine's
        // allocation with the same handle and released this aperture's entries.
        using var m = new Machine(new MachineOptions { Device = ModelWorkload.Device() });
        using var other = new Machine(new MachineOptions { Device = ModelWorkload.Device() });
        var mine = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous | AllocationFlags.CpuVisible);
        var theirs = other.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous | AllocationFlags.CpuVisible);
        Assert.That(theirs, Is.EqualTo(mine), "premise: the same handle value in both machines");
        m.MapToCpu(m.Process(1).CpuSpace, mine, 0, 4096, CpuAddressHalf.User);
        ulong theirVa = other.MapToCpu(other.Process(1).CpuSpace, theirs, 0, 4096, CpuAddressHalf.User);

        Assert.That(() => m.UnmapFromCpu(other.Process(1).CpuSpace, theirVa), Throws.ArgumentException);
        Assert.That(() => m.VidMm.AllocationAt(other.Process(1).CpuSpace, theirVa), Throws.ArgumentException);

        Assert.That(m.VidMm.MapCountOf(mine), Is.EqualTo(1), "this machine's mapping is untouched");
        Assert.That(other.VidMm.MapCountOf(theirs), Is.EqualTo(1), "the other machine's mapping is untouched");
    }

    [Test]
    public void MapToCpu_IntoAnotherMachinesSpace_IsRefused()
    {
        // Found: accepted: the other machine's process got a CPU VA onto this machine's memory.
        using var m = new Machine(new MachineOptions { Device = ModelWorkload.Device() });
        using var other = new Machine(new MachineOptions { Device = ModelWorkload.Device() });
        var mine = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous | AllocationFlags.CpuVisible);

        Assert.That(() => m.MapToCpu(other.Process(1).CpuSpace, mine, 0, 4096, CpuAddressHalf.User), Throws.ArgumentException);
        Assert.That(() => m.VidMm.AllocateAndMap(other.Process(1).CpuSpace, 4096, CpuAddressHalf.User), Throws.ArgumentException);
        Assert.That(m.VidMm.MapCountOf(mine), Is.Zero);
        Assert.That(VideoMemoryManager.CpuMappingCount(other.Process(1).CpuSpace), Is.Zero);
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void CreateUserQueue_InAnotherMachinesGpuSpace_IsRefused_AndNothingIsAllocated_AndSaveStateStillWorks(SchedulingModel model)
    {
        // Found: accepted — the queue's descriptor named the other machine's page-table root, which this device walks in
        // its own memory — and then Machine.SaveState threw ArgumentOutOfRangeException (naming the refused object's
        // type: String.Substring(0, -1)) instead of its documented MachineStateException.
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        using var other = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        int live = m.VidMm.LiveAllocations;

        Assert.That(() => m.CreateUserQueue(1, other.Process(1).GpuSpace, 0x300, EngineKind.Render), Throws.ArgumentException);

        Assert.That(m.VidMm.LiveAllocations, Is.EqualTo(live), "nothing allocated");
        Assert.That(m.Contexts, Is.Empty, "nothing registered");
        Assert.That(() => m.SaveState(new MemoryStream()), Throws.Nothing);
    }
}

[TestFixture]
public class PublicApiRobustnessAuditSaveStateNameReproducers
{
    [Test]
    public void MachineSaveState_NamingARefusedTypeNestedInAGenericType_DoesNotThrow()
    {
        // Found (via a machine holding another machine's device object): the refusal message named a type generic without
        // a '`' in its own name (List<int>.Enumerator) with Substring(0, -1), so SaveState threw ArgumentOutOfRangeException
        // instead of MachineStateException.
        var name = typeof(Coproc.Fast.Driver.Machine).Assembly.GetType("Coproc.Fast.Driver.MachineStateGraph")!
            .GetMethod("Name", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        Assert.That(name.Invoke(null, [typeof(List<int>.Enumerator)]), Is.EqualTo("Enumerator<Int32>"));
        Assert.That(name.Invoke(null, [typeof(Dictionary<int, string>[])]), Is.EqualTo("Dictionary<Int32, String>[]"));
    }
}

/// <summary>
/// A GPU address space runs one process's work (GpuAddressSpace.ProcessId): a user queue of process 1 is refused in the
/// space <see cref="Machine.Process"/> made for process 2, or in a caller-made space process 2's queue already runs in.
/// Before, process 1's queue ran in process 2's address space (found by the public-API robustness audit).
/// </summary>
[TestFixture]
public class PublicApiRobustnessAuditSpaceOwnership
{
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void CreateUserQueue_OfOneProcess_InAnotherProcesssGpuSpace_IsRefused(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var engine = EngineKind.Copy;

        Assert.That(() => m.CreateUserQueue(1, m.Process(2).GpuSpace, 0x300, engine), Throws.ArgumentException);
        // Its own process's space is fine, and so is a caller-made space for its first process — not for a second one.
        Assert.That(m.CreateUserQueue(2, m.Process(2).GpuSpace, 0x301, engine), Is.Not.Null);
        GpuAddressSpace shared;
        lock (m.Scheduler.KernelLock) shared = m.VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        Assert.That(m.CreateUserQueue(3, shared, 0x302, engine), Is.Not.Null);
        Assert.That(() => m.CreateUserQueue(4, shared, 0x303, engine), Throws.ArgumentException);
        Assert.That(m.CreateUserQueue(3, shared, 0x304, engine), Is.Not.Null, "the same process again");
    }
}
