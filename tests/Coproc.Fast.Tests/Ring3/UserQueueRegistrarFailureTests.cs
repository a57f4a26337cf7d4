using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>Review fixes: a refused registration leaves the doorbell block as it was (typed errors change nothing).</summary>
public class UserQueueRegistrarFailureTests
{
    [Test]
    public void RegisterMapped_WhenMappingThePageFails_LeavesNoDoorbellRegistered()
    {
        // Given a CPU address space that already maps the doorbell aperture of another device.
        using var first = new EngineQueueRig();
        using var second = new EngineQueueRig();
        var cpu = new CpuAddressSpace(first.Device.Memory, new ApertureWindow(first.Device.Memory, first.Machine.AllocLocal(4096), 1));
        first.RegisterMapped(1, 1, first.Machine.NewAddressSpace(), cpu, EngineKind.Compute);
        int before = second.Device.DoorbellBlock.RegisteredCount;

        // When the second device registers a queue mapped into that space, the page mapping is refused.
        Assert.Throws<InvalidOperationException>(() => second.RegisterMapped(1, 2, second.Machine.NewAddressSpace(), cpu, EngineKind.Compute));

        // Then the second device's doorbell block holds no registration for it (no doorbell leaked).
        Assert.That(second.Device.DoorbellBlock.RegisteredCount, Is.EqualTo(before));
    }
}
