using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines;

/// <summary>
/// Kept from coverage-guided fuzzing of the MMIO surface (fuzz/crashes/mmio/fault-switches-to-faulted-next-context):
/// a fault switches the engine to NEXT_CONTEXT (native-layout.md §10.1, §10.3); when that save area is already
/// Faulted the device must not run it, and must never throw into its host.
/// </summary>
public class FaultedNextContextTests
{
    [Test]
    public void GivenAFaultedNextContext_WhenTheRunningContextFaults_ThenStepDoesNotThrowAndNeitherRuns()
    {
        // Given context B, whose save area says Faulted, named as the copy engine's NEXT_CONTEXT.
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        ulong data = space.Alloc(4096);
        var a = m.NewContext(space, 1);
        var b = m.NewContext(space, 2);
        b.Submit((ref PacketWriter w) => w.WriteData(data, 0xB));
        m.Memory.Local.Ref<ContextSaveArea>(b.SaveArea.Offset).Flags = ContextFlags.Faulted;
        m.SetNext(EngineKind.Copy, b);

        // When context A, loaded on the copy engine, page-faults on an unmapped VA (the engine switches to NEXT_CONTEXT).
        a.Submit((ref PacketWriter w) => w.WriteData(0xDEAD_0000, 1));
        m.SwitchTo(EngineKind.Copy, a);
        Assert.DoesNotThrow(() => m.Device.Step(100_000));

        // Then neither context ran a packet (B stays faulted, its WRITE_DATA never lands) and A's fault is recorded.
        Assert.That(space.Read32(data), Is.Zero, "a Faulted save area is not run");
        Assert.That(m.ReadSaveArea(a).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.DoesNotThrow(() => m.Device.Step(100_000), "the engine stays usable");
    }
}
