using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Models;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// The project's isolation promise in the advanced model ("the driver never lets one process's input reach another's
/// memory or stall its work; the device never throws into its host"), as a seeded random property. Two well-behaved
/// processes — one on the run lists (render, demand-paged surfaces), one on the kernel path (copy engine, managed
/// allocations) — do random FILLs and COPYs over more memory than local memory holds, while an attacker with a run-list
/// process and a kernel-path process submits random malicious work: unmapped and foreign VAs, huge fills, privileged
/// packets in limited buffers (also written into the buffer after submission), privileged INDIRECTs, WAITs that never
/// come, garbage kernel-path buffers and references to another process's allocations. Every well-behaved buffer
/// completes, no well-behaved context fails, and every well-behaved allocation ends with exactly the bytes a CPU model
/// of its own operations predicts. Deterministic mode; bounded by cycle budgets.
/// </summary>
public class AdvancedCrossProcessIsolationProperties
{
    private const ulong Mi = 1UL << 20;
    private const int Surfaces = 3;
    private const uint GoodKernelProcess = 1, AttackerKernelProcess = 3;

    // Seeds 1..100 but the known failure (26 of 1..400; see the explicit case below).
    private static IEnumerable<int> Seeds() => Enumerable.Range(1, 100).Where(s => s != 26);

    [TestCaseSource(nameof(Seeds))]
    public void GivenAnAttackerOnBothBackEnds_WhenItSubmitsRandomMaliciousWork_ThenWellBehavedProcessesCompleteWithTheirCpuModelBytes(int seed) => Run(seed);

    // Two-element lists, option 2, page faulting: the innocent context's prefetched buffer waits in its ring for VidMm's
    // paging (WAIT_FENCE on the paging fence) while the attacker's priority-2 context sits waiting at the head of the list;
    // VidMm's paging context is never listed again (no RunListSubmitted for it after the prefetch), the innocent context
    // is charged as the running one and is stopped by the timeout; the attacker runs on.
    [Test]
    public void GivenSeed26_WhenTheAttackersWaitingContextHoldsTheHead_ThenTheInnocentPrefetchStillRunsAndCompletes() => Run(26);

    private static void Run(int seed)
    {
        var rng = new Random(seed);
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new CoprocessorOptions { LocalMemoryBytes = 8 * Mi, SystemMemoryBytes = 96 * Mi, ApertureBytes = Mi, VsyncPeriodCycles = 0 },
            ScheduledEngines = new[] { EngineKind.Render, EngineKind.Copy },
            RunLists = new RunListOptions
            {
                Mechanism = rng.Next(2) == 0 ? RunListMechanism.TwoElement : RunListMechanism.History,
                Privilege = (PrivilegeEnforcement)rng.Next(1, 4),
                Faults = rng.Next(2) == 0 ? FaultGranularity.Surface : FaultGranularity.Page,
                QuantumCycles = 50_000,
                TimeoutCycles = 5_000_000,
            },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 5_000_000 },
        });
        var w = new World(m, rng) { Options = $"{m.Options.RunLists.Mechanism}/{m.Options.RunLists.Privilege}/{m.Options.RunLists.Faults}" };
        int steps = 60;
        for (int step = 0; step < steps; step++)
        {
            switch (rng.Next(5))
            {
                case 0: w.GoodRunListOp(); break;
                case 1: w.GoodKernelOp(); break;
                case 2: w.AttackRunList(); break;
                case 3: w.AttackKernelPath(); break;
                default: m.RunFor((ulong)rng.Next(1, 300_000)); break;
            }
            if (rng.Next(3) == 0) m.RunFor((ulong)rng.Next(1, 100_000));
        }
        // Every well-behaved buffer retires, and the paging that may still move their memory has run (VidMm's records
        // say where the bytes live once it has).
        bool done = m.RunUntil(() => w.GoodDone() && w.PagingQuiet(), 4_000_000_000);
        Assert.That(done, Is.True, $"seed {seed}: well-behaved work did not complete ({w.Describe()})");
        w.AssertGoodState(seed);
        w.AssertGoodBytes(seed);
    }

    /// <summary>The processes of one run and the CPU model of the well-behaved ones.</summary>
    private sealed class World
    {
        private readonly Machine _m;
        private readonly Random _rng;
        private readonly RunListScheduler _rl;
        private readonly VaProcess _good;
        private readonly VaContext _goodCtx;
        private readonly GpuAllocation[] _goodSurfaces;
        private readonly byte[][] _goodModel;
        private readonly List<VaTicket> _goodTickets = new();
        private readonly VidSchContext _goodK;
        private readonly AllocationHandle[] _goodKAllocs;
        private readonly byte[][] _goodKModel;
        private readonly List<long> _goodKIds = new();
        private readonly VaProcess _evil;
        private readonly List<VaContext> _evilCtxs = new();
        private readonly GpuAllocation[] _evilSurfaces;
        private readonly VidSchContext _evilK;
        private readonly AllocationHandle _evilKAlloc;
        private readonly List<string> _log = new();

        public string Options { get; init; } = "";

        public World(Machine m, Random rng)
        {
            _m = m;
            _rng = rng;
            _rl = m.RunListScheduler;
            _goodK = m.CreateContext(GoodKernelProcess, rng.Next(0, 2), EngineKind.Copy);
            _evilK = m.CreateContext(AttackerKernelProcess, rng.Next(0, 2), EngineKind.Copy);
            _goodKAllocs = Enumerable.Range(0, Surfaces).Select(_ => m.AllocateManaged(GoodKernelProcess, _goodK, Mi)).ToArray();
            _goodKModel = Enumerable.Range(0, Surfaces).Select(_ => new byte[Mi]).ToArray();
            _evilKAlloc = m.AllocateManaged(AttackerKernelProcess, _evilK, 2 * Mi);
            _good = _rl.CreateProcess();
            _goodCtx = _rl.CreateContext(_good, rng.Next(0, 3));
            _goodSurfaces = Enumerable.Range(0, Surfaces).Select(_ => _good.AllocateSurface(Mi)).ToArray();
            _goodModel = Enumerable.Range(0, Surfaces).Select(_ => new byte[Mi]).ToArray();
            _evil = _rl.CreateProcess();
            _evilCtxs.Add(_rl.CreateContext(_evil, rng.Next(0, 3)));
            _evilSurfaces = Enumerable.Range(0, 2).Select(_ => _evil.AllocateSurface(Mi)).ToArray();
        }

        private (ulong Offset, ulong Bytes) Range()
        {
            int pages = (int)(Mi / 4096), first = _rng.Next(pages);
            return ((ulong)first * 4096, (ulong)_rng.Next(1, pages - first + 1) * 4096);
        }

        private static void ModelFill(byte[] s, ulong offset, ulong bytes, uint pattern)
        {
            for (ulong i = 0; i < bytes; i++) s[offset + i] = (byte)(pattern >> (int)(8 * (i & 3)));
        }

        public void GoodRunListOp()
        {
            var buffer = _good.CreateDmaBuffer(64);
            var pw = buffer.Writer();
            int ops = _rng.Next(1, 4);
            for (int i = 0; i < ops; i++)
            {
                var (off, bytes) = Range();
                int dst = _rng.Next(Surfaces), src = _rng.Next(Surfaces);
                if (src == dst || _rng.Next(2) == 0)
                {
                    uint pattern = (uint)_rng.Next() | 1;
                    pw.Fill(_goodSurfaces[dst].Va + off, pattern, bytes);
                    ModelFill(_goodModel[dst], off, bytes, pattern);
                }
                else
                {
                    pw.Copy(_goodSurfaces[dst].Va + off, _goodSurfaces[src].Va + off, bytes);
                    Array.Copy(_goodModel[src], (int)off, _goodModel[dst], (int)off, (int)bytes);
                }
            }
            var listed = _goodSurfaces.Where(_ => _rng.Next(3) == 0).Select(s => s.Handle).ToArray();
            VaTicket ticket = default;
            int written = pw.Written;
            Assert.That(_m.RunUntil(() => _rl.TrySubmit(_goodCtx, buffer, written, listed, out ticket), 200_000_000), Is.True,
                "the well-behaved run-list context found room in its ring");
            _goodTickets.Add(ticket);
        }

        public void GoodKernelOp()
        {
            var sink = new CapturingSink();
            var b = new CommandBufferBuilder(sink, capacityDwords: 1024, capacityReferences: 16);
            int ops = _rng.Next(1, 4);
            for (int i = 0; i < ops; i++)
            {
                var (off, bytes) = Range();
                int dst = _rng.Next(Surfaces), src = _rng.Next(Surfaces);
                if (src == dst || _rng.Next(2) == 0)
                {
                    uint pattern = (uint)_rng.Next() | 1;
                    b.Fill(_goodKAllocs[dst], off, pattern, bytes);
                    ModelFill(_goodKModel[dst], off, bytes, pattern);
                }
                else
                {
                    b.Copy(_goodKAllocs[src], off, _goodKAllocs[dst], off, bytes);
                    Array.Copy(_goodKModel[src], (int)off, _goodKModel[dst], (int)off, (int)bytes);
                }
            }
            b.Flush();
            _goodKIds.Add(_m.Kmd.Submit(GoodKernelProcess, _goodK, sink.Commands, sink.References));
        }

        private VaContext EvilContext()
        {
            var live = _evilCtxs.Where(c => c.State != VaContextState.Error).ToList();
            if (live.Count > 0 && _rng.Next(4) != 0) return live[_rng.Next(live.Count)];
            if (_evilCtxs.Count < 6) _evilCtxs.Add(_rl.CreateContext(_evil, _rng.Next(0, 3)));
            return _evilCtxs[^1];
        }

        public void AttackRunList()
        {
            var ctx = EvilContext();
            var buffer = _evil.CreateDmaBuffer(128);
            var pw = buffer.Writer();
            var own = _evilSurfaces[_rng.Next(_evilSurfaces.Length)];
            var victim = _goodSurfaces[_rng.Next(Surfaces)];
            ulong victimPa = _m.VidMm.PhysicalAddressOf(victim.Handle, 0).Encoded; // where it lives now (if resident)
            int kind = _rng.Next(12);
            bool rewriteAfterSubmit = false;
            switch (kind)
            {
                case 0: pw.Fill(0x7F_0000_0000UL + (ulong)_rng.Next(1 << 16) * 4096, 0xBAD0_0000, 64 << 10); break; // unmapped VA
                case 1: pw.Fill(victim.Va, 0xBAD0_0001, Mi); break; // another process's VA, in this process's space
                case 2: pw.Fill(own.Va, 0xBAD0_0002, 256 * Mi); break; // runs far past its own surface
                case 3: pw.PrivilegedFence(victimPa, 0xBAD0_0003); break; // privileged physical write
                case 4: pw.UpdatePageTable(victimPa, [victimPa | 1, victimPa | 1]); break; // privileged PTE write
                case 5: pw.WaitFence(own.Va, 1UL << 62); break; // a fence that never comes
                case 6: pw.Wait(own.Va + 4096 * (ulong)_rng.Next(16)); break; // a counter nobody signals
                case 7: pw.Nop(8); rewriteAfterSubmit = true; break; // benign when checked, privileged when it runs
                case 8: pw.RegWrite((uint)_rng.Next(0, 0x4000) & ~3u, (uint)_rng.Next()); break;
                case 9: pw.Indirect(victim.Va, 16, privileged: true); break;
                case 10: pw.Copy(own.Va, victim.Va, Mi); break; // reads a VA it does not own
                default:
                    // Legitimate pressure: fill both of its surfaces whole.
                    foreach (var s in _evilSurfaces) pw.Fill(s.Va, 0xE0E0_0000 | (uint)kind, Mi);
                    break;
            }
            if (_rng.Next(2) == 0) pw.Fill(own.Va, 0xE1E1_E1E1, 4096); // sometimes followed by ordinary work
            var listed = _rng.Next(2) == 0 ? new[] { own.Handle } : [];
            try
            {
                if (_rl.TrySubmit(ctx, buffer, pw.Written, listed, out _))
                    _log.Add($"rl attack {kind} on {ctx}");
            }
            catch (LimitedBufferRejectedException) { _log.Add($"rl attack {kind} rejected"); }
            if (rewriteAfterSubmit)
            {
                var after = new PacketWriter(buffer.Dwords);
                after.PrivilegedFence(victimPa, 0xBAD0_0007);
            }
        }

        public void AttackKernelPath()
        {
            var sink = new CapturingSink();
            var b = new CommandBufferBuilder(sink, capacityDwords: 1024, capacityReferences: 16);
            int kind = _rng.Next(6);
            switch (kind)
            {
                case 0: b.Wait(_evilKAlloc, 4096 * (ulong)_rng.Next(16)); break; // a counter nobody signals
                case 1: b.Fill(_evilKAlloc, 0, 0xBAD1_0001, 64 * Mi); break; // far past its allocation
                case 2: b.Fill(_goodKAllocs[_rng.Next(Surfaces)], 0, 0xBAD1_0002, Mi); break; // another process's allocation
                case 3: b.Copy(_goodKAllocs[_rng.Next(Surfaces)], 0, _evilKAlloc, 0, Mi); break; // reads another's allocation
                case 4:
                    b.Fill(_evilKAlloc, 0, 0xBAD1_0004, Mi);
                    break;
                default:
                    for (int i = 0; i < 4; i++) b.Fill(_evilKAlloc, 0, 0xE2E2_0000 | (uint)i, 2 * Mi); // long, legitimate
                    break;
            }
            b.Flush();
            var commands = sink.Commands;
            if (kind == 4)
            {
                // Garbage: random dwords over a valid buffer.
                for (int i = 0; i < 3; i++) commands[_rng.Next(commands.Length)] = (uint)_rng.Next() ^ (uint)_rng.Next() << 1;
            }
            try
            {
                _m.Kmd.Submit(AttackerKernelProcess, _evilK, commands, sink.References);
                _log.Add($"kp attack {kind} submitted");
            }
            catch (CommandBufferRejectedException) { _log.Add($"kp attack {kind} rejected"); }
        }

        public bool GoodDone() =>
            _goodTickets.All(t => t.IsComplete || t.HasFailed) && _goodKIds.All(id => _goodK.StatusOf(id) != SubmissionStatus.Pending);

        public bool PagingQuiet()
        {
            if (_rl.Paging.HasWork) return false;
            foreach (var s in _m.Schedulers)
                if (s is not null && s.Paging.Completed < s.Paging.LastSubmitted) return false;
            return true;
        }

        public string Describe() =>
            $"{Options}: run-list {_goodTickets.Count(t => t.IsComplete)}/{_goodTickets.Count} {_goodCtx} {_goodCtx.State} {_goodCtx.ErrorReason}; " +
            $"kernel path {_goodKIds.Count(id => _goodK.StatusOf(id) == SubmissionStatus.Completed)}/{_goodKIds.Count}; " +
            $"paging {_rl.Paging.Completed}/{_rl.Paging.LastSubmitted}; attacks: {string.Join(", ", _log.TakeLast(12))}";

        public void AssertGoodState(int seed)
        {
            Assert.That(_goodCtx.State, Is.Not.EqualTo(VaContextState.Error), $"seed {seed}: the well-behaved run-list context failed: {_goodCtx.ErrorReason} ({Describe()})");
            Assert.That(_goodTickets.All(t => t.IsComplete), Is.True, $"seed {seed}: every well-behaved run-list buffer completed ({Describe()})");
            var statuses = _goodKIds.Select(id => _goodK.StatusOf(id)).ToArray();
            Assert.That(statuses, Is.All.EqualTo(SubmissionStatus.Completed), $"seed {seed}: every well-behaved kernel-path buffer completed ({Describe()})");
        }

        public void AssertGoodBytes(int seed)
        {
            for (int i = 0; i < Surfaces; i++)
            {
                AssertSame(ModelWorkload.Read(_m, _goodSurfaces[i].Handle, (int)Mi), _goodModel[i], $"seed {seed}: run-list surface {i}");
                AssertSame(ModelWorkload.Read(_m, _goodKAllocs[i], (int)Mi), _goodKModel[i], $"seed {seed}: kernel-path allocation {i}");
            }
        }

        private void AssertSame(byte[] actual, byte[] expected, string what)
        {
            int bad = -1;
            for (int i = 0; i < expected.Length && bad < 0; i++) if (actual[i] != expected[i]) bad = i;
            Assert.That(bad, Is.EqualTo(-1), bad < 0 ? "" :
                $"{what}: byte 0x{bad:X} is 0x{actual[bad]:X2}, expected 0x{expected[bad]:X2} (word 0x{BitConverter.ToUInt32(actual, bad & ~3):X8}); {Describe()}");
        }
    }
}
