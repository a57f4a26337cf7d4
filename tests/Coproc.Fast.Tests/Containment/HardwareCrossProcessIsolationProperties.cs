using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Models;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// The isolation promise in the hardware model (SchedulingModel.Hardware): a well-behaved process's ring-3 user queue
/// (render) and a well-behaved kernel-path context (copy, managed allocations beyond local memory) do random FILLs and
/// COPYs while an attacker's user queue on the same engine writes random malicious packets (unmapped and foreign VAs,
/// huge fills, privileged fences, page-table writes, register writes and privileged INDIRECTs, WAITs that never come)
/// and its kernel-path context submits garbage and foreign references. The well-behaved queue reaches its last fence,
/// every well-behaved kernel-path buffer completes, and every well-behaved allocation equals its CPU model.
/// Deterministic mode; bounded by cycle budgets.
/// </summary>
public class HardwareCrossProcessIsolationProperties
{
    private const ulong Mi = 1UL << 20;
    private const ulong Surface = ModelWorkload.SurfaceBytes;

    private static IEnumerable<int> Seeds() => Enumerable.Range(1, 40);

    [TestCaseSource(nameof(Seeds))]
    public void GivenAnAttackersUserQueueAndKernelContext_WhenTheySubmitRandomMaliciousWork_ThenWellBehavedWorkCompletesWithItsCpuModelBytes(int seed)
    {
        var rng = new Random(seed);
        var device = ModelWorkload.Device() with { LocalMemoryBytes = 8 * Mi };
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Hardware, Device = device,
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 5_000_000 },
        });
        // Well-behaved and attacking user queues on render, each in its own fault-on-invalid address space.
        var good = ModelWorkload.CreateUserQueueSurfaces(m);
        var evil = ModelWorkload.CreateUserQueueSurfaces(m);
        var goodQ = m.CreateUserQueue(1, good.Space, 0x100, EngineKind.Render).Open(m.Device.Memory);
        var evilQ = m.CreateUserQueue(2, evil.Space, 0x101, EngineKind.Render, priority: (byte)rng.Next(0, 2)).Open(m.Device.Memory);
        // Kernel path on copy: more managed memory than local memory holds.
        var gk = m.CreateContext(1, 0, EngineKind.Copy);
        var ek = m.CreateContext(2, rng.Next(0, 2), EngineKind.Copy);
        var gkAllocs = Enumerable.Range(0, 3).Select(_ => m.AllocateManaged(1, gk, 2 * Mi)).ToArray();
        var ekAlloc = m.AllocateManaged(2, ek, 4 * Mi);
        var queueModel = new[] { new byte[Surface], new byte[Surface] };
        var kernelModel = gkAllocs.Select(_ => new byte[2 * Mi]).ToArray();
        var kernelIds = new List<long>();
        ulong goodFence = 0;
        var packets = new uint[512];

        for (int step = 0; step < 50; step++)
        {
            switch (rng.Next(5))
            {
                case 0:
                {
                    var w = new PacketWriter(packets);
                    int dst = rng.Next(2);
                    var (off, bytes) = Range(rng, Surface);
                    if (rng.Next(3) == 0)
                    {
                        w.Copy(good.Va[dst] + off, good.Va[1 - dst] + off, bytes);
                        Array.Copy(queueModel[1 - dst], (int)off, queueModel[dst], (int)off, (int)bytes);
                    }
                    else
                    {
                        uint pattern = (uint)rng.Next() | 1;
                        w.Fill(good.Va[dst] + off, pattern, bytes);
                        ModelFill(queueModel[dst], off, bytes, pattern);
                    }
                    w.Fence(good.FenceVa, ++goodFence);
                    if (!TryWrite(m, goodQ, w.WrittenSpan)) Assert.Fail($"seed {seed}: no room in the well-behaved queue");
                    goodQ.Flush();
                    break;
                }
                case 1:
                {
                    var sink = new CapturingSink();
                    var b = new CommandBufferBuilder(sink, 1024, 16);
                    int dst = rng.Next(gkAllocs.Length), src = rng.Next(gkAllocs.Length);
                    var (off, bytes) = Range(rng, 2 * Mi);
                    if (src != dst && rng.Next(2) == 0)
                    {
                        b.Copy(gkAllocs[src], off, gkAllocs[dst], off, bytes);
                        Array.Copy(kernelModel[src], (int)off, kernelModel[dst], (int)off, (int)bytes);
                    }
                    else
                    {
                        uint pattern = (uint)rng.Next() | 1;
                        b.Fill(gkAllocs[dst], off, pattern, bytes);
                        ModelFill(kernelModel[dst], off, bytes, pattern);
                    }
                    b.Flush();
                    kernelIds.Add(m.Kmd.Submit(1, gk, sink.Commands, sink.References));
                    break;
                }
                case 2:
                {
                    var w = new PacketWriter(packets);
                    ulong victimPa = m.VidMm.PhysicalAddressOf(good.Surfaces[rng.Next(2)], 0).Encoded;
                    switch (rng.Next(9))
                    {
                        case 0: w.Fill(0x7F_0000_0000UL + (ulong)rng.Next(1 << 16) * 4096, 0xBAD2_0000, 64 << 10); break;
                        case 1: w.Fill(good.Va[rng.Next(2)], 0xBAD2_0001, Surface); break; // the victim's VA in its own space
                        case 2: w.Fill(evil.Va[0], 0xBAD2_0002, 256 * Mi); break;
                        case 3: w.PrivilegedFence(victimPa, 0xBAD2_0003); break;
                        case 4: w.UpdatePageTable(victimPa, [victimPa | 1]); break;
                        case 5: w.WaitFence(evil.Va[1], 1UL << 62); break; // never comes
                        case 6: w.RegWrite((uint)rng.Next(0, 0x4000) & ~3u, (uint)rng.Next()); break;
                        case 7: w.Indirect(evil.Va[0], 16, privileged: true); break;
                        default: w.Copy(evil.Va[0], good.Va[rng.Next(2)], Surface); break;
                    }
                    if (TryWrite(m, evilQ, w.WrittenSpan, attacker: true)) evilQ.Flush();
                    break;
                }
                case 3:
                {
                    var sink = new CapturingSink();
                    var b = new CommandBufferBuilder(sink, 1024, 16);
                    int kind = rng.Next(4);
                    if (kind == 0) b.Wait(ekAlloc, 0);
                    else if (kind == 1) b.Fill(gkAllocs[rng.Next(gkAllocs.Length)], 0, 0xBAD3_0001, Mi);
                    else for (int i = 0; i < 2; i++) b.Fill(ekAlloc, 0, 0xE3E3_0000u | (uint)i, 4 * Mi);
                    b.Flush();
                    var commands = sink.Commands;
                    if (kind == 3) commands[rng.Next(commands.Length)] = (uint)rng.Next();
                    try { m.Kmd.Submit(2, ek, commands, sink.References); }
                    catch (CommandBufferRejectedException) { }
                    break;
                }
                default: m.RunFor((ulong)rng.Next(1, 300_000)); break;
            }
        }
        bool done = m.RunUntil(() => m.Device.Memory.Read64(good.Fence) >= goodFence
            && kernelIds.All(id => gk.StatusOf(id) != SubmissionStatus.Pending), 4_000_000_000);
        Assert.That(done, Is.True, $"seed {seed}: the well-behaved queue reached {m.Device.Memory.Read64(good.Fence)}/{goodFence}; kernel path {kernelIds.Count(id => gk.StatusOf(id) == SubmissionStatus.Completed)}/{kernelIds.Count}");
        Assert.That(kernelIds.Select(id => gk.StatusOf(id)), Is.All.EqualTo(SubmissionStatus.Completed), $"seed {seed}: every well-behaved kernel-path buffer completed");
        Assert.That(m.RunUntil(() => PagingQuiet(m), 100_000_000), Is.True, "paging drained");
        for (int i = 0; i < 2; i++) AssertSame(ModelWorkload.Read(m, good.Surfaces[i]), queueModel[i], $"seed {seed}: user-queue surface {i}");
        for (int i = 0; i < gkAllocs.Length; i++) AssertSame(ModelWorkload.Read(m, gkAllocs[i], (int)(2 * Mi)), kernelModel[i], $"seed {seed}: kernel-path allocation {i}");
    }

    private static bool PagingQuiet(Machine m)
    {
        foreach (var s in m.Schedulers)
            if (s is not null && s.Paging.Completed < s.Paging.LastSubmitted) return false;
        return true;
    }

    // Writes whole packets; a full queue of the attacker is its own problem (false), the well-behaved one waits for room.
    private static bool TryWrite(Machine m, UserQueue q, ReadOnlySpan<uint> packets, bool attacker = false)
    {
        var copy = packets.ToArray();
        for (int off = 0; off < copy.Length;)
        {
            int len = new PacketHeader(copy[off]).LengthDwords;
            int at = off;
            if (!q.TryWrite(copy.AsSpan(at, len)))
            {
                if (attacker) return off > 0;
                if (!m.RunUntil(() => q.TryWrite(copy.AsSpan(at, len)), 200_000_000)) return false;
            }
            off += len;
        }
        return true;
    }

    private static (ulong Offset, ulong Bytes) Range(Random rng, ulong size)
    {
        int pages = (int)(size / 4096), first = rng.Next(pages);
        return ((ulong)first * 4096, (ulong)rng.Next(1, pages - first + 1) * 4096);
    }

    private static void ModelFill(byte[] s, ulong offset, ulong bytes, uint pattern)
    {
        for (ulong i = 0; i < bytes; i++) s[offset + i] = (byte)(pattern >> (int)(8 * (i & 3)));
    }

    private static void AssertSame(byte[] actual, byte[] expected, string what)
    {
        int bad = -1;
        for (int i = 0; i < expected.Length && bad < 0; i++) if (actual[i] != expected[i]) bad = i;
        Assert.That(bad, Is.EqualTo(-1), bad < 0 ? "" : $"{what}: byte 0x{bad:X} is 0x{actual[bad]:X2}, expected 0x{expected[bad]:X2}");
    }
}
