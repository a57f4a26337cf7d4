using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Tests.Engines;
using FsCheck;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.SaveState;

/// <summary>
/// The host's interrupt pin and the guest's handler (native-layout.md §9): on every rising edge it drains the information
/// queue through the registers and acknowledges — what the uninterrupted and the restored runs must both see.
/// </summary>
internal sealed class RecordingIsr(Coprocessor device) : IInterruptLine
{
    public List<string> Log { get; } = new();
    public bool Level { get; set; }

    public void SetLevel(bool asserted)
    {
        if (asserted == Level) return;
        Level = asserted;
        Log.Add($"{device.Cycle}: line {(asserted ? 1 : 0)}");
        if (!asserted) return;
        uint ic = MmioMap.InterruptBase;
        uint status = device.Mmio.Read32(ic + 0x00);
        while (device.Mmio.Read32(ic + 0x10) != 0)
        {
            Log.Add($"{device.Cycle}: info {device.Mmio.Read32(ic + 0x18):X8} {device.Mmio.Read64(ic + 0x20):X} {device.Mmio.Read64(ic + 0x28):X}");
            device.Mmio.Write32(ic + 0x38, 1);
        }
        device.Mmio.Write32(ic + 0x08, status);
    }
}

/// <summary>
/// Device save-state (native-layout.md §20.8): a device restored from a snapshot taken at any point between two steps
/// continues exactly as the device that was saved — memory bytes, interrupt edges and information records, and the
/// whole internal state (its own save-state) are identical to the uninterrupted run.
/// </summary>
public class DeviceSaveStateTests
{
    private const ulong Slice = 1_500;
    private const int Slices = 400;

    private static CoprocessorOptions Options() => new()
    {
        LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 40_000,
    };

    // Render: fills, copies, data writes and interrupting fences, then the NEXT context; Copy: large copies; Compute: a
    // write to an unmapped page (a fault). Several hundred thousand cycles of work across engines, vsync on.
    private static void Submit(EngineTestMachine m)
    {
        var space = m.NewAddressSpace();
        ulong buffer = space.Alloc(256 << 10), fences = space.Alloc(4096);
        var render = m.NewContext(space, 1);
        var next = m.NewContext(space, 2);
        var copy = m.NewContext(space, 3, 8192);
        var faulting = m.NewContext(space, 4);
        for (int i = 0; i < 6; i++)
        {
            int k = i;
            render.Submit((ref w) =>
            {
                w.Fill(buffer + (ulong)k * 4096, 0x1111_0000u + (uint)k, 4096);
                w.Copy(buffer + 0x10000 + (ulong)k * 4096, buffer + (ulong)k * 4096, 4096);
                w.WriteData(buffer + 0x20000 + (ulong)k * 4, 0xAB00u + (uint)k);
                w.Fence(fences + (ulong)k * 8, (ulong)k + 1, interrupt: true);
            });
        }
        next.Submit((ref w) => { w.Fill(buffer + 0x30000, 0x2222_2222u, 8192); w.Trap(7); });
        for (int i = 0; i < 4; i++)
        {
            int k = i;
            copy.Submit((ref w) =>
            {
                w.Copy(buffer + 0x8000 + (ulong)k * 0x8000, buffer + 0x10000, 0x8000);
                w.Fence(fences + 0x100 + (ulong)k * 8, 0x100u + (ulong)k, interrupt: true);
            });
        }
        faulting.Submit((ref w) => { w.WriteData(0x7_0000_0000, 1u); w.Fence(fences + 0x200, 9, interrupt: true); });
        m.SwitchTo(EngineKind.Render, render);
        m.SetNext(EngineKind.Render, next);
        m.SwitchTo(EngineKind.Copy, copy);
        m.SwitchTo(EngineKind.Compute, faulting);
    }

    private static byte[] Snapshot(Coprocessor device, bool system = true)
    {
        using var s = new MemoryStream();
        device.SaveState(s, system);
        return s.ToArray();
    }

    private static (List<string> Log, byte[] State) Uninterrupted()
    {
        using var m = new EngineTestMachine(Options());
        var isr = new RecordingIsr(m.Device);
        m.Device.Interrupts.Line = isr;
        Submit(m);
        for (int i = 0; i < Slices; i++) m.Device.Step(Slice);
        return (isr.Log, Snapshot(m.Device));
    }

    private static readonly Lazy<(List<string> Log, byte[] State)> Reference = new(Uninterrupted);

    [Test]
    public void GivenTheWorkload_WhenRunUninterrupted_ThenItRaisesInterruptsFaultsAndFinishesBeforeTheLastSlice()
    {
        var (log, _) = Reference.Value;
        Assert.That(log.Count(l => l.Contains("info")), Is.GreaterThan(10), "fences, the trap and the fault raise interrupts");
        using var m = new EngineTestMachine(Options());
        Submit(m);
        m.Device.Step(Slice * (Slices - 20));
        Assert.That(m.Device.WorkPending & 0xFF, Is.Zero, "the workload is done before the end, so every snapshot point is covered");
    }

    [FsProperty(MaxTest = 12, Replay = "(2026120714,4711)")]
    public bool GivenASnapshotAtAnyStep_WhenRestoredIntoAFreshDevice_ThenTheContinuationEqualsTheUninterruptedRun(PositiveInt at)
    {
        int k = at.Get % Slices;
        var (referenceLog, referenceState) = Reference.Value;

        byte[] snapshot;
        List<string> before;
        bool level;
        using (var m = new EngineTestMachine(Options()))
        {
            var isr = new RecordingIsr(m.Device);
            m.Device.Interrupts.Line = isr;
            Submit(m);
            for (int i = 0; i < k; i++) m.Device.Step(Slice);
            snapshot = Snapshot(m.Device);
            before = isr.Log;
            level = m.Device.Interrupts.IsAsserted;
        }

        using var fresh = new Coprocessor(Options());
        var restoredIsr = new RecordingIsr(fresh) { Level = level };
        fresh.Interrupts.Line = restoredIsr;
        using (var s = new MemoryStream(snapshot)) fresh.RestoreState(s);
        Assert.That(fresh.Cycle, Is.EqualTo((ulong)k * Slice));
        for (int i = k; i < Slices; i++) fresh.Step(Slice);

        Assert.That(before.Concat(restoredIsr.Log), Is.EqualTo(referenceLog), $"interrupts after a snapshot at slice {k}");
        Assert.That(Snapshot(fresh), Is.EqualTo(referenceState), $"device state and memory after a snapshot at slice {k}");
        return true;
    }

    [Test]
    public void GivenASnapshot_WhenRestoredIntoTheSameDeviceAfterItRanOn_ThenItRewindsExactly()
    {
        using var m = new EngineTestMachine(Options());
        Submit(m);
        m.Device.Step(Slice * 37);
        byte[] at37 = Snapshot(m.Device);
        m.Device.Step(Slice * 100);
        using (var s = new MemoryStream(at37)) m.Device.RestoreState(s);
        Assert.That(Snapshot(m.Device), Is.EqualTo(at37));
    }

    [Test]
    public void GivenASnapshotWithoutSystemMemory_WhenRestored_ThenSystemMemoryIsTheHostsAndLocalMemoryIsRestored()
    {
        using var m = new EngineTestMachine(Options());
        Submit(m);
        m.Device.Step(Slice * 10);
        m.Device.Memory.System.Ref<uint>(0x100) = 0xDEAD;
        using var s = new MemoryStream();
        m.Device.SaveState(s);
        Assert.That(s.Length, Is.LessThan((long)(Options().LocalMemoryBytes + Options().SystemMemoryBytes)));
        uint localWord = m.Device.Memory.Local.Ref<uint>(0x10000);
        using var fresh = new Coprocessor(Options());
        s.Position = 0;
        fresh.RestoreState(s);
        Assert.That(fresh.Memory.System.Ref<uint>(0x100), Is.Zero, "system memory is the host's to restore");
        Assert.That(fresh.Memory.Local.Ref<uint>(0x10000), Is.EqualTo(localWord));
    }

    [Test]
    public void GivenAStreamOfAnotherSize_WhenRestored_ThenDeviceStateExceptionAndTheDeviceIsUntouched()
    {
        using var small = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 2UL << 20 });
        using var s = new MemoryStream();
        small.SaveState(s);
        using var other = new Coprocessor(Options());
        other.Step(123);
        s.Position = 0;
        Assert.Throws<DeviceStateException>(() => other.RestoreState(s));
        Assert.That(other.Cycle, Is.EqualTo(123UL));
        Assert.Throws<DeviceStateException>(() => other.RestoreState(new MemoryStream(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 })));
    }

    [Test]
    public void GivenATruncatedStream_WhenRestored_ThenDeviceStateExceptionAndTheDeviceIsReset()
    {
        using var m = new EngineTestMachine(Options());
        Submit(m);
        m.Device.Step(Slice * 20);
        byte[] full = Snapshot(m.Device, system: false);
        using var fresh = new Coprocessor(Options());
        fresh.Step(999);
        Assert.Throws<DeviceStateException>(() => fresh.RestoreState(new MemoryStream(full[..(full.Length / 3)])));
        Assert.That(fresh.Cycle, Is.Zero);
        Assert.That(fresh.WorkPending, Is.Zero);
    }

    [Test]
    public void GivenABusFacadeSnapshot_WhenRestoredIntoAFreshFacade_ThenConfigSpaceAndDeviceComeBack()
    {
        using var m = new EngineTestMachine(Options());
        var bus = new Coproc.Fast.Device.Bus.CoprocBusDevice(m.Device);
        bus.Config.Write(0x10, 4, 0xFE00_0000);
        bus.Config.Write(0x04, 2, Coproc.Fast.Device.Bus.PciConfigSpace.CommandMemorySpace);
        Submit(m);
        bus.Step(Slice * 5);
        using var s = new MemoryStream();
        bus.SaveState(s);

        using var fresh = new Coprocessor(Options());
        var freshBus = new Coproc.Fast.Device.Bus.CoprocBusDevice(fresh);
        s.Position = 0;
        freshBus.RestoreState(s);
        Assert.That(freshBus.Config.Read(0x10, 4), Is.EqualTo(0xFE00_0000u));
        Assert.That(freshBus.Config.MemorySpaceEnabled, Is.True);
        Assert.That(freshBus.ReadBar(0, MmioMap.DeviceBase + DeviceRegisters.Cycle, 8), Is.EqualTo(Slice * 5));
        s.Position = 0;
        Assert.Throws<DeviceStateException>(() => fresh.RestoreState(s), "a façade snapshot is restored through the façade");
    }

    private sealed class Pin : IInterruptLine
    {
        public List<bool> Calls { get; } = new();
        public void SetLevel(bool asserted) => Calls.Add(asserted);
    }

    [Test]
    public void GivenASnapshotWithTheLineAsserted_WhenRestored_ThenTheHostsLineIsRaisedOnceAndTheQueueIsThere()
    {
        using var m = new EngineTestMachine(Options());
        Submit(m);
        m.Device.Step(Slice * 200);
        Assert.That(m.Device.Interrupts.IsAsserted, Is.True, "nobody acknowledged the fences");
        byte[] snapshot = Snapshot(m.Device, system: false);
        uint queued = m.Device.Mmio.Read32(MmioMap.InterruptBase + 0x10);

        using var fresh = new Coprocessor(Options());
        var pin = new Pin();
        fresh.Interrupts.Line = pin;
        fresh.RestoreState(new MemoryStream(snapshot));
        Assert.That(pin.Calls, Is.EqualTo(new[] { true }));
        Assert.That(fresh.Mmio.Read32(MmioMap.InterruptBase + 0x10), Is.EqualTo(queued).And.Not.Zero);
    }
}
