using System.Runtime.InteropServices;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch.Advanced;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>Helpers over an <see cref="AdvancedMachine"/>: processes, surfaces, user DMA buffers written at VAs.</summary>
internal sealed class AdvancedRig : IDisposable
{
    public delegate void Emit(ref PacketWriter w);

    public AdvancedRig(AdvancedOptions? options = null) => Machine = new AdvancedMachine(options);

    /// <summary>Options with 8 MiB of local memory, so a few MiB of surfaces oversubscribe it.</summary>
    public static AdvancedOptions Small(RunListMechanism runLists = RunListMechanism.TwoElement,
        PrivilegeEnforcement privilege = PrivilegeEnforcement.IndirectBit, FaultGranularity faults = FaultGranularity.Surface) => new()
    {
        Device = new() { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 4UL << 20, VsyncPeriodCycles = 0 },
        RunLists = runLists,
        Privilege = privilege,
        Faults = faults,
    };

    public AdvancedMachine Machine { get; }
    public AdvancedScheduler Scheduler => Machine.Scheduler;

    /// <summary>Writes packets into a fresh DMA buffer of the context's process and submits it with <paramref name="resources"/>.</summary>
    public AdvancedTicket Submit(AdvancedContext ctx, Emit emit, params AllocationHandle[] resources)
    {
        var buf = ctx.Process.CreateDmaBuffer(1024);
        var w = buf.Writer();
        emit(ref w);
        return Scheduler.Submit(ctx, buf, w.Written, resources);
    }

    /// <summary>The bytes of an allocation where VidMm says it lives now (valid when the machine is idle).</summary>
    public byte[] Read(GpuAllocation a) => Machine.VidMm.Memory.GetSpan(Machine.VidMm.PhysicalAddressOf(a.Handle, 0), (int)a.Bytes).ToArray();

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

internal static class AdvancedRigExtensions
{
    public static ResidencyManager Residency(this AdvancedRig rig) => rig.Machine.Residency;
}
