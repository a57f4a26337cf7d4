using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.SaveState;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// The advanced model's two paging channels over one local memory (CrossBackEndInTransitTests' churn) with the kernel
/// path's paging buffers at their smallest size (<see cref="VidSchOptions.PagingBufferDwords"/> = 64): VidSch builds a
/// chunk's paging buffer, finds it too small, and builds it again in a larger one (VidSchScheduler.Prepare.cs
/// BuildChunkPaging). The rebuilt buffer must keep its WAIT_FENCEs on the run-list back end's paging
/// (ResidencyManager.Order.cs), so every allocation still ends with exactly the bytes a CPU model of its partial fills
/// predicts (whole-surface fills would hide a stale page-in).
/// </summary>
public class SmallPagingBufferCrossBackEndTests
{
    private const ulong Mi = 1UL << 20;

    private static IEnumerable<int> Seeds() => Enumerable.Range(1, 60);

    // Seeds (of 1..400) whose kernel-path paging buffer was rebuilt larger after a foreign wait had been noted.
    private static IEnumerable<int> FailingSeeds() => [66, 100, 106, 206, 291, 314, 374];

    // Control: VidSch's default paging buffer (8192 dwords) holds every buffer of this workload at the first build.
    [TestCaseSource(nameof(Seeds))]
    public void GivenDefaultPagingBuffers_WhenBothBackEndsChurnOneLocalMemoryWithPartialFills_ThenEveryAllocationMatchesItsCpuModel(int seed) =>
        Run(seed, pagingBufferDwords: 8 * 1024);

    [TestCaseSource(nameof(Seeds))]
    public void GivenKernelPathPagingBuffersRebuiltLarger_WhenBothBackEndsChurnOneLocalMemory_ThenEveryAllocationMatchesItsCpuModel(int seed) =>
        Run(seed, pagingBufferDwords: 64);

    [TestCaseSource(nameof(FailingSeeds))]
    public void GivenKernelPathPagingBuffersRebuiltLarger_WhenTheRebuildFollowsANotedForeignWait_ThenEveryAllocationStillMatchesItsCpuModel(int seed) =>
        Run(seed, pagingBufferDwords: 64);

    internal static void Run(int seed, int pagingBufferDwords)
    {
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new CoprocessorOptions { LocalMemoryBytes = 8 * Mi, SystemMemoryBytes = 48 * Mi, ApertureBytes = Mi, VsyncPeriodCycles = 0 },
            ScheduledEngines = new[] { EngineKind.Render, EngineKind.Copy },
            Scheduler = new VidSchOptions { PagingBufferDwords = pagingBufferDwords },
        });
        var rng = new Random(seed);
        var k = m.CreateContext(1, 0, EngineKind.Copy);
        var kernelAllocs = Enumerable.Range(0, 4).Select(_ => m.AllocateManaged(1, k, 3 * Mi / 2)).ToArray();
        var rl = m.RunListScheduler;
        var p = rl.CreateProcess();
        var r = rl.CreateContext(p);
        var surfaces = Enumerable.Range(0, 5).Select(_ => p.AllocateSurface(Mi)).ToArray();
        // CPU model of every allocation (partial fills: stale bytes from a misordered paging show).
        var modelK = kernelAllocs.Select(_ => new uint[3 * Mi / 8]).ToArray();
        var modelS = surfaces.Select(_ => new uint[Mi / 4]).ToArray();
        var tickets = new List<VaTicket>();
        for (int n = 0; n < 24; n++)
        {
            int a = rng.Next(kernelAllocs.Length);
            uint pattern = 0x1000_0000u | (uint)n << 8 | (uint)a;
            var (ko, kb) = Range(rng, 3 * Mi / 2);
            Array.Fill(modelK[a], pattern, (int)(ko / 4), (int)(kb / 4));
            var sink = new CapturingSink();
            var b = new CommandBufferBuilder(sink, capacityDwords: 1024, capacityReferences: 8);
            b.Fill(kernelAllocs[a], ko, pattern, kb, resourceId: 0);
            b.Flush();
            m.Kmd.Submit(1, k, sink.Commands, sink.References);

            int s = rng.Next(surfaces.Length);
            uint sp = 0x2000_0000u | (uint)n << 8 | (uint)s;
            var (so, sb) = Range(rng, Mi);
            Array.Fill(modelS[s], sp, (int)(so / 4), (int)(sb / 4));
            var buffer = p.CreateDmaBuffer(64);
            var w = buffer.Writer();
            w.Fill(surfaces[s].Va + so, sp, sb);
            Assert.That(rl.TrySubmit(r, buffer, w.Written, [], out var ticket), Is.True);
            tickets.Add(ticket);
            m.RunFor((ulong)rng.Next(1, seed % 2 == 0 ? 4_000 : 60_000));
        }
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(r.State, Is.Not.EqualTo(VaContextState.Error), $"seed {seed}: the run-list context did not fail: {r.ErrorReason}");
        Assert.That(tickets.All(t => t.IsComplete), Is.True, $"seed {seed}: every run-list buffer retired");
        Assert.That(k.StatusOf(k.Submitted), Is.EqualTo(SubmissionStatus.Completed), $"seed {seed}: the kernel-path buffers retired");
        for (int i = 0; i < kernelAllocs.Length; i++) AssertWords(Words(m, kernelAllocs[i]), modelK[i], $"seed {seed}: kernel-path allocation {i}");
        for (int i = 0; i < surfaces.Length; i++) AssertWords(Words(m, surfaces[i].Handle), modelS[i], $"seed {seed}: run-list surface {i}");
    }

    private static (ulong Offset, ulong Bytes) Range(Random rng, ulong size)
    {
        int pages = (int)(size / 4096), first = rng.Next(pages);
        return ((ulong)first * 4096, (ulong)rng.Next(1, pages - first + 1) * 4096);
    }

    private static void AssertWords(uint[] actual, uint[] expected, string what)
    {
        int bad = -1;
        for (int i = 0; i < expected.Length && bad < 0; i++) if (actual[i] != expected[i]) bad = i;
        Assert.That(bad, Is.EqualTo(-1), bad < 0 ? "" : $"{what}: word {bad} is 0x{actual[bad]:X8}, expected 0x{expected[bad]:X8}");
    }

    private static uint[] Words(Machine m, AllocationHandle h)
    {
        var bytes = MachineSaveStateWorkload.Read(m, h);
        var words = new uint[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, words, 0, bytes.Length);
        return words;
    }
}
