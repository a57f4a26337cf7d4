using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.SaveState;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// Advanced model, both back ends paging one residency manager: the kernel path (copy engine) and the run-list back end
/// (render engine) each fill their own managed memory while together they exceed local memory; every allocation ends with
/// the bytes its own last fill wrote.
/// </summary>
public class CrossBackEndInTransitTests
{
    private static IEnumerable<int> Seeds() => Enumerable.Range(1, 60);

    [TestCaseSource(nameof(Seeds))]
    public void GivenBothBackEndsPagingOneLocalMemory_WhenTheyChurn_ThenEveryAllocationKeepsItsOwnBytes(int seed) => Run(seed, kernelPath: true);

    // Control: the run-list back end alone, churning more surfaces than local memory holds.
    [TestCaseSource(nameof(Seeds))]
    public void GivenOnlyTheRunListBackEndPaging_WhenItChurns_ThenEverySurfaceKeepsItsOwnBytes(int seed) => Run(seed, kernelPath: false);

    private static void Run(int seed, bool kernelPath)
    {
        const ulong Mi = 1UL << 20;
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new CoprocessorOptions { LocalMemoryBytes = 8 * Mi, SystemMemoryBytes = 48 * Mi, ApertureBytes = Mi, VsyncPeriodCycles = 0 },
            ScheduledEngines = new[] { EngineKind.Render, EngineKind.Copy },
        });
        var rng = new Random(seed);
        var k = m.CreateContext(1, 0, EngineKind.Copy);
        var kernelAllocs = Enumerable.Range(0, 4).Select(_ => m.AllocateManaged(1, k, 3 * Mi / 2)).ToArray();
        var rl = m.RunListScheduler;
        var p = rl.CreateProcess();
        var r = rl.CreateContext(p);
        var surfaces = Enumerable.Range(0, kernelPath ? 5 : 11).Select(_ => p.AllocateSurface(Mi)).ToArray();
        var expectK = new uint[kernelAllocs.Length];
        var expectS = new uint[surfaces.Length];
        ulong lastFence = 0;
        for (int n = 0; n < 24; n++)
        {
            int a = rng.Next(kernelAllocs.Length);
            uint pattern = 0x1000_0000u | (uint)n << 8 | (uint)a;
            expectK[a] = pattern;
            if (kernelPath)
            {
                var sink = new CapturingSink();
                var b = new CommandBufferBuilder(sink, capacityDwords: 1024, capacityReferences: 8);
                b.Fill(kernelAllocs[a], 0, pattern, 3 * Mi / 2, resourceId: 0);
                b.Flush();
                m.Kmd.Submit(1, k, sink.Commands, sink.References);
            }
            else expectK[a] = 0;

            int s = rng.Next(surfaces.Length);
            uint sp = 0x2000_0000u | (uint)n << 8 | (uint)s;
            expectS[s] = sp;
            var buffer = p.CreateDmaBuffer(64);
            var w = buffer.Writer();
            w.Fill(surfaces[s].Va, sp, Mi);
            Assert.That(rl.TrySubmit(r, buffer, w.Written, [], out var ticket), Is.True);
            lastFence = ticket.Fence;
            m.RunFor((ulong)rng.Next(1, seed % 2 == 0 ? 4_000 : 60_000));
        }
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(r.State, Is.Not.EqualTo(Coproc.Fast.Driver.VidSch.RunLists.VaContextState.Error), "the run-list context did not fail");
        Assert.That(r.IsComplete(lastFence), Is.True, "every run-list buffer retired");
        for (int i = 0; i < kernelAllocs.Length; i++)
            if (expectK[i] != 0) Assert.That(Words(m, kernelAllocs[i]).Distinct(), Is.EqualTo(new[] { expectK[i] }), $"kernel-path allocation {i}");
        for (int i = 0; i < surfaces.Length; i++)
            if (expectS[i] != 0) Assert.That(Words(m, surfaces[i].Handle).Distinct(), Is.EqualTo(new[] { expectS[i] }), $"run-list surface {i}: {string.Join(", ", Words(m, surfaces[i].Handle).Distinct().Select(v => v.ToString("X8", System.Globalization.CultureInfo.InvariantCulture)))}, expected {expectS[i]:X8}");
    }

    private static uint[] Words(Machine m, AllocationHandle h)
    {
        var bytes = MachineSaveStateWorkload.Read(m, h);
        var words = new uint[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, words, 0, bytes.Length);
        return words;
    }
}
