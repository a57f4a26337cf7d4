using System.Globalization;
using System.Text;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>A small device (8 MiB local, 8 MiB system, 1 MiB aperture) with VidMm on top, and state snapshots.</summary>
internal sealed class VidMmTestRig : IDisposable
{
    public const ulong Page = 4096;

    public VidMmTestRig(ulong localBytes = 8 << 20, ulong systemBytes = 8 << 20, ulong apertureBytes = 1 << 20)
    {
        Device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = localBytes, SystemMemoryBytes = systemBytes, ApertureBytes = apertureBytes });
        Vm = VideoMemoryManager.ForDevice(Device);
    }

    public Coprocessor Device { get; }
    public VideoMemoryManager Vm { get; }

    /// <summary>Every byte of both memories (page tables, aperture table, data) plus all driver bookkeeping.</summary>
    public Snapshot Take(IEnumerable<GpuAddressSpace>? gpu = null, IEnumerable<CpuAddressSpace>? cpu = null)
    {
        var sb = new StringBuilder();
        sb.Append("L:").AppendJoin(',', Vm.Local.Pages.SnapshotFreeRanges()).AppendLine();
        sb.Append("S:").AppendJoin(',', Vm.System.Pages.SnapshotFreeRanges()).AppendLine();
        sb.Append("A:").AppendJoin(',', Vm.Aperture.Pages.SnapshotFreeRanges()).AppendLine();
        foreach (var h in Vm.LiveHandles())
            sb.Append(h).Append(' ').Append(Vm.MapCountOf(h)).Append(' ').AppendJoin('|', Vm.ExtentsOf(h)).AppendLine();
        foreach (var g in gpu ?? [])
        {
            var d = g.Descriptor;
            sb.Append(CultureInfo.InvariantCulture, $"G{g.Asid}: m={g.MappingCount} r={g.ReservationCount} root={d.RootTable:X} lim={d.FlatLimit} t={g.TablePages}").AppendLine();
        }
        foreach (var c in cpu ?? [])
            sb.Append(CultureInfo.InvariantCulture, $"C: pages={c.MappedPages} maps={VideoMemoryManager.CpuMappingCount(c)} va={c.FreeVaPages}").AppendLine();
        return new Snapshot(Device.Memory.Local.Slice(0, (int)Device.Memory.Local.Length).ToArray(),
            Device.Memory.System.Slice(0, (int)Device.Memory.System.Length).ToArray(), sb.ToString());
    }

    public void Dispose() => Device.Dispose();

    internal sealed record Snapshot(byte[] Local, byte[] System, string State)
    {
        public void AssertSame(Snapshot after)
        {
            Assert.That(after.State, Is.EqualTo(State), "driver bookkeeping changed");
            Assert.That(after.Local.AsSpan().SequenceEqual(Local), Is.True, "local memory (page tables, aperture table) changed");
            Assert.That(after.System.AsSpan().SequenceEqual(System), Is.True, "system memory changed");
        }
    }
}
