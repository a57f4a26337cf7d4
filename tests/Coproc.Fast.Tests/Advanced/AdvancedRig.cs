using System.Runtime.InteropServices;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Helpers over a <see cref="Machine"/> in the advanced model (<see cref="SchedulingModel.Advanced"/>): processes,
/// surfaces, user DMA buffers written at VAs, all on the run-list back end.
/// </summary>
internal sealed class AdvancedRig : IDisposable
{
    public delegate void Emit(ref PacketWriter w);

    public AdvancedRig(RigOptions? options = null, Func<Coproc.Fast.Driver.VidSch.IDeviceBus, Coproc.Fast.Driver.VidSch.IDeviceBus>? runListBusView = null) =>
        Machine = new Machine((options ?? new RigOptions()).ToMachineOptions(), null, runListBusView);

    /// <summary>Options with 8 MiB of local memory, so a few MiB of surfaces oversubscribe it.</summary>
    public static RigOptions Small(RunListMechanism runLists = RunListMechanism.TwoElement,
        PrivilegeEnforcement privilege = PrivilegeEnforcement.IndirectBit, FaultGranularity faults = FaultGranularity.Surface) => new()
    {
        Device = new() { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 4UL << 20, VsyncPeriodCycles = 0 },
        RunLists = runLists,
        Privilege = privilege,
        Faults = faults,
    };

    public Machine Machine { get; }
    public RunListScheduler Scheduler => Machine.RunListScheduler;

    /// <summary>Writes packets into a fresh DMA buffer of the context's process and submits it with <paramref name="resources"/>.</summary>
    public VaTicket Submit(VaContext ctx, Emit emit, params AllocationHandle[] resources)
    {
        var buf = ctx.Process.CreateDmaBuffer(1024);
        var w = buf.Writer();
        emit(ref w);
        return Scheduler.Submit(ctx, buf, w.Written, resources);
    }

    /// <summary>The bytes of an allocation where VidMm says it lives now, piece by piece (valid when the machine is idle).</summary>
    public byte[] Read(GpuAllocation a) => SaveState.MachineSaveStateWorkload.Read(Machine, a.Handle);

    public uint Read32(GpuAllocation a, ulong offset) =>
        MemoryMarshal.Read<uint>(Machine.VidMm.Memory.GetSpan(Machine.VidMm.PhysicalAddressOf(a.Handle, offset), 4));

    /// <summary>Expected bytes of a FILL with <paramref name="pattern"/> starting at a 4-aligned VA.</summary>
    public static byte[] Pattern(uint pattern, int bytes)
    {
        var b = new byte[bytes];
        for (int i = 0; i < bytes; i++) b[i] = (byte)(pattern >> (8 * (i & 3)));
        return b;
    }

    /// <summary>Fast byte comparison (NUnit's collection comparer is slow on MiB arrays); reports the first difference.</summary>
    public static void AssertBytes(byte[] actual, byte[] expected, string? what = null)
    {
        int i = actual.AsSpan().CommonPrefixLength(expected);
        Assert.That(i == expected.Length && actual.Length == expected.Length, Is.True,
            $"{what}: first difference at byte {i} of {expected.Length} (actual length {actual.Length})");
    }

    public void Dispose() => Machine.Dispose();
}

/// <summary>The machine and run-list settings the advanced-model tests vary, flattened (mapped to <see cref="MachineOptions"/>).</summary>
internal sealed record RigOptions
{
    public CoprocessorOptions Device { get; init; } = new()
    {
        LocalMemoryBytes = 32UL << 20, SystemMemoryBytes = 64UL << 20, ApertureBytes = 4UL << 20, VsyncPeriodCycles = 0,
    };
    public RunListMechanism RunLists { get; init; } = RunListMechanism.TwoElement;
    public int RunListLength { get; init; } = 4;
    public PrivilegeEnforcement Privilege { get; init; } = PrivilegeEnforcement.IndirectBit;
    public FaultGranularity Faults { get; init; } = FaultGranularity.Surface;
    public uint RingBytes { get; init; } = 16 << 10;
    public ulong QuantumCycles { get; init; } = 200_000;
    public ulong TimeoutCycles { get; init; } = 2_000_000_000;
    public ulong PagingServiceCycles { get; init; } = 5_000;
    public ulong InterruptLatencyCycles { get; init; } = 2_000;
    public int EventLogCapacity { get; init; } = 1 << 20;
    public IReadOnlyList<Coproc.Fast.Device.Engines.EngineKind>? Engines { get; init; }

    public MachineOptions ToMachineOptions() => new()
    {
        Model = SchedulingModel.Advanced,
        Device = Device,
        InterruptLatencyCycles = InterruptLatencyCycles,
        RunLists = new RunListOptions
        {
            Mechanism = RunLists, RunListLength = RunListLength, Privilege = Privilege, Faults = Faults, RingBytes = RingBytes,
            QuantumCycles = QuantumCycles, TimeoutCycles = TimeoutCycles, PagingServiceCycles = PagingServiceCycles, EventLogCapacity = EventLogCapacity,
            Engines = Engines,
        },
    };
}

internal static class AdvancedRigExtensions
{
    public static ResidencyManager Residency(this AdvancedRig rig) => (ResidencyManager)rig.Machine.Residency;
}
