using System.Globalization;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>
/// Ring 3 queue contents and descriptors: an attacker writes packets of every kind (privileged ones, INDIRECT with
/// the privileged bit, FILL/COPY to unmapped and kernel-looking addresses, WAITs that never end, garbage dwords)
/// straight into its ring, sets its descriptor's WritePtr / ReadPtr / Base / SizeBytes to anything, and rings its own
/// doorbell and other processes' doorbells, while a ring-3 victim and a ring-0 victim share the engine. Oracle:
/// nothing is thrown into the host; no byte of either victim's memory, PTE or kernel ring changes; every 8 cases the
/// attacker's queue is re-registered and both victims' fresh jobs finish with their bytes right.
/// </summary>
internal sealed class Ring3QueueCampaign : ICampaign
{
    public string Name => "ring3";

    public string Description => "attacker user-queue packets, descriptors and doorbells; victims (ring 3 and ring 0) unchanged; fresh jobs right";

    public void Run(CampaignSettings settings, CampaignStats stats, Heartbeat heartbeat)
    {
        var clock = Stopwatch.StartNew();
        using var world = new Ring3World();
        var log = new List<string>();
        for (long i = 0; i < settings.Iterations && clock.Elapsed < settings.Budget; i++)
        {
            heartbeat.Beat($"case {i}");
            var rng = FuzzRandom.ForCase(settings.Seed, i);
            log.Clear();
            try
            {
                Attack(ref rng, world, log, stats);
                ulong cycles = 10_000 + rng.Below(2_000_000UL);
                log.Add($"Machine.RunFor({cycles})");
                world.Machine.RunFor(cycles);
            }
            catch (Exception e)
            {
                throw new CampaignFailure(i, $"host exception: {e.GetType().FullName}: {e.Message}", Reproducer(log), e);
            }
            stats.Cases++;
            string? broken = world.Ledger.FindChange();
            if (broken is not null) throw new CampaignFailure(i, broken, Reproducer(log));
            if ((i + 1) % 4 == 0)
            {
                try { world.Register(world.AttackerQueue); }
                catch (Exception e) { throw new CampaignFailure(i, $"re-registering the attacker's queue threw {e.GetType().FullName}: {e.Message}", Reproducer(log), e); }
                broken = world.FreshJobs();
                if (broken is not null) throw new CampaignFailure(i, "fresh valid jobs: " + broken, Reproducer(log));
                stats.Count("fresh job pairs right");
            }
        }
        foreach (var e in new[] { Coproc.Fast.Device.Engines.EngineKind.Render, Coproc.Fast.Device.Engines.EngineKind.Copy })
            stats.Count("packets executed", world.Machine.Device.Engine(e).PacketsExecuted);
        string? end = world.FreshJobs();
        if (end is not null) throw new CampaignFailure(-1, "after the campaign, fresh valid jobs: " + end, Reproducer(log));
        stats.Count("fresh job pairs right");
    }

    private static string Reproducer(List<string> log)
    {
        var s = new StringBuilder("  the case's attacker actions on a Ring3World (fuzz/Coproc.Fast.Fuzz/Harness/Ring3World.cs), after the earlier cases:\n");
        foreach (var a in log) s.Append("    ").AppendLine(a);
        return s.ToString();
    }

    private static void Attack(ref FuzzRandom rng, Ring3World world, List<string> log, CampaignStats stats)
    {
        var q = world.AttackerQueue;
        var mem = world.Memory;
        ref var d = ref world.DescriptorOf(q);
        int actions = 1 + rng.Below(6);
        for (int a = 0; a < actions; a++)
        {
            switch (rng.Below(7))
            {
                case 0:
                case 1:
                case 2: // packets at the current write position, published by a WritePtr move
                {
                    var ring = MemoryMarshal.Cast<byte, uint>(mem.GetSpan(q.RingBase, (int)Ring3World.RingBytes));
                    uint index = (uint)(d.WritePtr & (Ring3World.RingBytes - 1)) / 4;
                    var space = ring[(int)Math.Min(index, (uint)ring.Length - 1)..];
                    var w = new PacketWriter(space);
                    int packets = 1 + rng.Below(6);
                    var names = new List<string>();
                    for (int p = 0; p < packets && space.Length - w.Written > 40; p++)
                    {
                        ulong va = rng.Below(4) switch
                        {
                            0 => q.DataVa + (ulong)rng.Below(16384),
                            1 => world.VictimQueue.DataVa + (ulong)rng.Below(16384), // the victim's VA: not in the attacker's space (or its own page)
                            2 => rng.Interesting64(),
                            _ => world.Machine.Residency.PatchAddress(world.Ring0Data, 0), // a kernel-view VA
                        };
                        int kind = rng.OneIn(2) ? 0 : rng.Below(13); // mostly good packets, so the queue lives to run the bad ones
                        names.Add(kind.ToString(CultureInfo.InvariantCulture));
                        switch (kind)
                        {
                            case 0: w.WriteData(va, rng.NextU32()); break;
                            case 1: w.Fill(va, 0xBADBAD00, (ulong)rng.Below(0x10000)); break;
                            case 2: w.Copy(va, q.DataVa, (ulong)rng.Below(0x4000)); break;
                            case 3: w.Fence(va, rng.NextU64(), interrupt: rng.OneIn(2)); break;
                            case 4: w.Wait(va); break;
                            case 5: w.Indirect(va & ~3UL, (uint)rng.Below(64), privileged: rng.OneIn(2)); break;
                            case 6: w.PrivilegedFence(world.Machine.VidMm.PhysicalAddressOf(world.Ring0Data, 0).Encoded, rng.NextU64()); break;
                            case 7: w.UpdatePageTable(rng.Interesting64(), [rng.NextU64()]); break;
                            case 8: w.RegWrite((uint)rng.Below(0x1000) & ~3u, rng.NextU32()); break;
                            case 9: w.DisableContextSwitch(); break;
                            case 10: w.TlbFlushAll(); break;
                            case 11: w.Signal(va); break;
                            default: space[w.Written] = rng.Interesting32(); w.Advance(1); break;
                        }
                    }
                    d.WritePtr += (ulong)w.Written * 4;
                    if (!rng.OneIn(4)) world.Ring(q.Registration!.Doorbell, 1, q.Process);
                    log.Add($"ring: {packets} packets (kinds {string.Join(",", names)}) at index {index * 4}, WritePtr now 0x{d.WritePtr:X}");
                    stats.Count("ring-3 packets", packets);
                    break;
                }
                case 3: // the descriptor: any field ring 3 can reach
                {
                    switch (rng.Below(5))
                    {
                        case 0: d.WritePtr = rng.Interesting64(); log.Add($"descriptor WritePtr = 0x{d.WritePtr:X}"); break;
                        case 1: d.ReadPtr = rng.Interesting64(); log.Add($"descriptor ReadPtr = 0x{d.ReadPtr:X}"); break;
                        case 2:
                            d.Base = rng.OneIn(2) ? world.Machine.VidMm.PhysicalAddressOf(world.Ring0Data, 0).Encoded : rng.Interesting64();
                            log.Add($"descriptor Base = 0x{d.Base:X}");
                            break;
                        case 3: d.SizeBytes = rng.Interesting32(); log.Add($"descriptor SizeBytes = 0x{d.SizeBytes:X}"); break;
                        default: d.Flags = rng.Interesting32(); d.ContextId = rng.Interesting32(); log.Add($"descriptor Flags/ContextId = 0x{d.Flags:X}/0x{d.ContextId:X}"); break;
                    }
                    stats.Count("descriptor writes");
                    break;
                }
                case 4: // its own doorbell, a storm of them
                {
                    int n = 1 + rng.Below(64);
                    for (int k = 0; k < n; k++) world.Ring(q.Registration!.Doorbell, rng.Interesting32(), q.Process);
                    log.Add($"rang its doorbell {q.Registration!.Doorbell} {n} times");
                    stats.Count("doorbell writes", n);
                    break;
                }
                case 5: // other processes' doorbells, and pages past the aperture
                {
                    int db = rng.OneIn(2) ? world.VictimQueue.Registration!.Doorbell : rng.Below(DoorbellVector.Count + 4);
                    world.Ring(db, rng.Interesting32(), q.Process);
                    log.Add($"rang doorbell {db} as process {q.Process}");
                    stats.Count("foreign doorbell writes");
                    break;
                }
                default: // its own save area is kernel memory: ring 3 cannot reach it; it can only wait
                {
                    ulong cycles = rng.Below(100_000UL);
                    world.Machine.RunFor(cycles);
                    log.Add($"Machine.RunFor({cycles})");
                    break;
                }
            }
        }
    }
}
