using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using SharpFuzz;

namespace Coproc.Fast.Fuzz.Targets;

/// <summary>
/// Coverage-guided targets for AFL++ through SharpFuzz (the assemblies are instrumented with
/// <c>sharpfuzz</c>; fuzz/run-afl.sh does it all). Each target turns the input bytes into calls and throws —
/// which AFL records as a crash — only when the code under test broke its contract:
/// <list type="bullet">
/// <item><c>packet-decoder</c>: <c>PacketDecoder.TryDecode</c> at every offset of the input read as dwords; it must
/// never throw and a decoded packet must lie inside the stream.</item>
/// <item><c>kmd-validator</c>: <c>KmdValidator.Validate</c> on a resource list and command buffer built from the input
/// (handles drawn from the caller's own, a stranger's, null and invented); only <c>CommandBufferRejectedException</c>
/// may escape, and every accepted operand's offset lies within its allocation.</item>
/// <item><c>mmio</c>: a fresh small <c>Coprocessor</c> driven by the input as a program of register writes and reads,
/// memory writes, doorbell writes, whole contexts handed to an engine (CONTEXT_SWITCH or NEXT_CONTEXT) and steps; nothing may escape (a misaligned
/// register access reads all ones and is counted, native-layout.md §6).</item>
/// </list>
/// </summary>
internal static class FuzzTargets
{
    public static readonly string[] Names = ["packet-decoder", "kmd-validator", "mmio"];

    public static int RunUnderAfl(string target)
    {
        var run = Target(target);
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            run(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        });
        return 0;
    }

    /// <summary>Runs a target on saved inputs (a corpus, or the crash files AFL wrote); reports the first that throws.</summary>
    public static int Replay(string target, string[] paths)
    {
        var run = Target(target);
        var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p, "*", SearchOption.AllDirectories) : [p]).Order(StringComparer.Ordinal).ToList();
        int failed = 0;
        foreach (var f in files)
        {
            try { run(File.ReadAllBytes(f)); }
            catch (Exception e)
            {
                failed++;
                Console.WriteLine($"FAIL {target} {f}: {e.GetType().FullName}: {e.Message}");
            }
        }
        Console.WriteLine($"{target}: {files.Count} inputs, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>
    /// Writes the seed corpus (fuzz/corpus/&lt;target&gt;/): well-formed inputs the fuzzer mutates from — every packet
    /// kind, valid command buffers with their resource lists, and register programs that switch contexts and submit
    /// run lists. Deterministic: the committed files are exactly what this writes.
    /// </summary>
    public static int WriteCorpus(string root)
    {
        static byte[] Dwords(PacketBuild build)
        {
            var buffer = new uint[256];
            var w = new PacketWriter(buffer);
            build(ref w);
            return MemoryMarshal.AsBytes(buffer.AsSpan(0, w.Written)).ToArray();
        }
        var decoder = new Dictionary<string, byte[]>
        {
            ["nop"] = Dwords((ref PacketWriter w) => w.Nop(3)),
            ["write-data"] = Dwords((ref PacketWriter w) => w.WriteData(0x1000, [1, 2, 3])),
            ["copy-fill"] = Dwords((ref PacketWriter w) => { w.Copy(0x2000, 0x1000, 256); w.Fill(0x3000, 0xABCD, 4096); }),
            ["sync"] = Dwords((ref PacketWriter w) => { w.Fence(0x100, 7, interrupt: true); w.Wait(0x200); w.Signal(0x200); w.WaitFence(0x100, 7); w.Trap(3); w.Timestamp(0x300); }),
            ["privileged"] = Dwords((ref PacketWriter w) =>
            {
                w.Indirect(0x4000, 16, privileged: true); w.DisableContextSwitch(); w.EnableContextSwitch(); w.RegWrite(0x400, 1);
                w.UpdatePageTable(0x10_0000, [0x1003, 0x2003]); w.TlbFlushAll(); w.PrivilegedFence(0x10, 1); w.Flip(0x20_0000, true); w.WaitForFlip();
            }),
        };
        // kmd-validator: [references, engine] then 8-byte entries (handle index, offset/4 u16, id, write) then dwords.
        static byte[] Kmd(byte engine, (byte Handle, ushort Offset, byte Id, bool Write)[] refs, byte[] commands)
        {
            var b = new List<byte> { (byte)refs.Length, engine };
            foreach (var r in refs) b.AddRange([r.Handle, (byte)r.Offset, (byte)(r.Offset >> 8), r.Id, (byte)(r.Write ? 1 : 0), 0, 0, 0]);
            b.AddRange(commands);
            return b.ToArray();
        }
        var kmd = new Dictionary<string, byte[]>
        {
            ["fill"] = Kmd(0, [(0, 0, 0, true)], Dwords((ref PacketWriter w) => w.Fill(0, 0x11, 4096))),
            ["copy"] = Kmd(2, [(1, 0, 0, false), (1, 0, 1, true)], Dwords((ref PacketWriter w) => w.Copy(0x8000, 0, 0x1000))),
            ["write-fence"] = Kmd(0, [(2, 0, 0, true), (2, 5, 3, true)], Dwords((ref PacketWriter w) => { w.WriteData(16, [1, 2]); w.Fence(64, 9); })),
            ["wait-signal"] = Kmd(0, [(2, 0, 3, false), (2, 2, 3, true)], Dwords((ref PacketWriter w) => { w.Wait(128); w.Signal(128); })),
            ["stranger"] = Kmd(0, [(3, 0, 0, true)], Dwords((ref PacketWriter w) => w.Fill(0, 1, 4096))),
            ["zero-length-at-end"] = Kmd(0, [(0, 0, 0, true)], Dwords((ref PacketWriter w) => w.Fill(4096, 1, 0))),
        };
        // mmio: 12-byte records (op, offset u16, spare, value u64).
        static byte[] Program(params (byte Op, ushort Offset, byte Spare, ulong Value)[] records)
        {
            var b = new List<byte>();
            foreach (var r in records)
            {
                b.AddRange([r.Op, (byte)r.Offset, (byte)(r.Offset >> 8), r.Spare]);
                b.AddRange(BitConverter.GetBytes(r.Value));
            }
            return b.ToArray();
        }
        var mmio = new Dictionary<string, byte[]>
        {
            ["switch-and-step"] = Program((7, 0, 0, 0x1000), (7, 8, 1, 0x2000), (6, 0, 0, 20_000)),
            ["contexts-next"] = Program((7, 1, 2, 11), (7, 9, 3, 12), (6, 0, 0, 8000), (7, 2, 4, 13), (6, 0, 0, 16000)),
            ["run-list"] = Program((4, 0x100, 1, PhysicalAddress.Local(0x1000).Encoded), (1, 0x840, 0, PhysicalAddress.System(0x1000).Encoded),
                (0, 0x848, 0, 1), (0, 0x84C, 0, 1), (6, 0, 0, 50_000)),
            ["interrupts"] = Program((0, 0x104, 0, 0xFFFF_FFFF), (2, 0x100, 0, 0), (0, 0x108, 0, 0xFFFF_FFFF), (6, 0, 0, 1000)),
            ["doorbells"] = Program((0, 0xA04, 0, 3), (0, 0xA00, 0, 1), (5, 0x100, 2, 1), (6, 0, 0, 5000)),
            ["mmu"] = Program((1, 0x208, 0, 0x1000), (0, 0x210, 0, 16), (0, 0x220, 0, 0xFFFF), (0, 0x238, 0, 1), (3, 0x258, 0, 0)),
        };
        foreach (var (target, files) in new[] { ("packet-decoder", decoder), ("kmd-validator", kmd), ("mmio", mmio) })
        {
            string dir = Path.Combine(root, target);
            Directory.CreateDirectory(dir);
            foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
        }
        Console.WriteLine($"seed corpus written under {root}");
        return 0;
    }

    private delegate void PacketBuild(ref PacketWriter w);

    private delegate void TargetAction(ReadOnlySpan<byte> input);

    private static TargetAction Target(string name) => name switch
    {
        "packet-decoder" => PacketDecoderTarget,
        "kmd-validator" => KmdValidatorTarget,
        "mmio" => MmioTarget,
        _ => throw new ArgumentException($"unknown target '{name}' ({string.Join(", ", Names)})"),
    };

    // --- packet decoder ---
    public static void PacketDecoderTarget(ReadOnlySpan<byte> input)
    {
        var stream = MemoryMarshal.Cast<byte, uint>(input[..(input.Length & ~3)]);
        for (int off = 0; off < stream.Length; off++)
        {
            if (!PacketDecoder.TryDecode(stream, off, out var p, out _)) continue;
            var slice = p.Slice(stream); // throws if the decoded packet runs past the stream
            if (slice.Length == 0) throw new InvalidOperationException($"decoded an empty packet at dword {off}");
        }
    }

    // --- KMD validator ---
    private static KmdFixture? _kmd;

    // Lives for the whole fuzzing process (one per process, reused by every input); Dispose frees the machine's memory.
    private sealed class KmdFixture : IDisposable
    {
        public void Dispose() => Machine.Dispose();

        public readonly Machine Machine;
        public readonly KmdProcess Owner;
        public readonly AllocationHandle[] Handles;
        public readonly ulong[] Sizes;
        public readonly PatchSite[] Sites = new PatchSite[64];

        public KmdFixture()
        {
            Machine = new Machine(new MachineOptions
            {
                Device = new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 2UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
                ScheduledEngines = [EngineKind.Render],
            });
            var mine = new[] { Machine.Kmd.Allocate(1, 4096), Machine.Kmd.Allocate(1, 65536), Machine.Kmd.Allocate(1, 8192, PlacementHint.SystemOnly) };
            var stranger = Machine.Kmd.Allocate(2, 4096);
            Owner = Machine.Kmd.Process(1);
            Handles = [.. mine, stranger, default, new AllocationHandle(77, 3)];
            Sizes = [4096, 65536, 8192, 0, 0, 0];
        }
    }

    public static void KmdValidatorTarget(ReadOnlySpan<byte> input)
    {
        var f = _kmd ??= new KmdFixture();
        if (input.Length < 2) return;
        int nRefs = Math.Min(input[0] & 63, (input.Length - 2) / 8);
        var engine = (input[1] & 7) switch { 0 => EngineKind.Render, 1 => EngineKind.Compute, 2 => EngineKind.Copy, 3 => EngineKind.VideoDecode, 4 => EngineKind.VideoEncode, _ => (EngineKind?)null };
        Span<ResourceReference> refs = stackalloc ResourceReference[nRefs];
        var body = input[2..];
        for (int i = 0; i < nRefs; i++)
        {
            var e = body.Slice(i * 8, 8);
            refs[i] = new ResourceReference(f.Handles[e[0] % f.Handles.Length], BinaryPrimitives.ReadUInt16LittleEndian(e[1..]) * 4u, (ushort)(e[3] & 31), (e[4] & 1) != 0);
        }
        var rest = body[(nRefs * 8)..];
        var commands = MemoryMarshal.Cast<byte, uint>(rest[..(rest.Length & ~3)]);
        int sites;
        try { sites = KmdValidator.Validate(commands, refs, f.Owner, 15, f.Sites, engine); }
        catch (CommandBufferRejectedException) { return; }
        for (int s = 0; s < sites; s++)
        {
            var site = f.Sites[s];
            if ((uint)site.Reference >= (uint)nRefs) throw new InvalidOperationException($"site {s} names resource entry {site.Reference} of {nRefs}");
            int h = Array.IndexOf(f.Handles, refs[site.Reference].Handle);
            if (h < 0 || h >= 3) throw new InvalidOperationException($"site {s} accepted a handle the caller does not own: {refs[site.Reference].Handle}");
            if (site.AllocationOffset > f.Sizes[h]) throw new InvalidOperationException($"site {s} offset 0x{site.AllocationOffset:X} past its 0x{f.Sizes[h]:X}-byte allocation");
            if ((uint)site.FieldDword + 1 >= (uint)commands.Length) throw new InvalidOperationException($"site {s} patches dword {site.FieldDword} of {commands.Length}");
        }
    }

    // --- MMIO surface ---
    public static void MmioTarget(ReadOnlySpan<byte> input)
    {
        using var dev = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 2UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 10_000,
        });
        // Program: records of 12 bytes — op (1), offset (2), spare (1), value (8).
        for (int at = 0; at + 12 <= input.Length; at += 12)
        {
            var r = input.Slice(at, 12);
            uint offset = BinaryPrimitives.ReadUInt16LittleEndian(r[1..]);
            ulong value = BinaryPrimitives.ReadUInt64LittleEndian(r[4..]);
            int op = r[0] % 8;
            // The device never throws from MMIO (a misaligned access reads all ones and is counted, native-layout §6):
            // any exception here is a crash for the fuzzer.
            {
                switch (op)
                {
                    case 0: dev.Mmio.Write32(offset & 0xFFF, (uint)value); break;
                    case 1: dev.Mmio.Write64(offset & 0xFFF, value); break;
                    case 2: dev.Mmio.Read32(offset & 0xFFF); break;
                    case 3: dev.Mmio.Read64(offset & 0xFFF); break;
                    case 4: // memory: a u64 in local (r[3] even) or system memory, 8-aligned
                    {
                        var pa = (r[3] & 1) == 0 ? PhysicalAddress.Local(((ulong)offset << 4) & 0xFFFF8) : PhysicalAddress.System(((ulong)offset << 4) & 0xFFFF8);
                        dev.Memory.Write64(pa, value);
                        break;
                    }
                    case 5: dev.DoorbellAperture.Write32(((ulong)offset << 4) & ~3UL, (uint)value, r[3]); break;
                    case 6: dev.Step(1 + (value & 0x3FFFF)); break;
                    default: // a whole context built from the value (as the guest campaign builds one), handed to an engine
                    {
                        var rng = new Coproc.Fast.Fuzz.Harness.FuzzRandom(value);
                        int slot = r[3] % 8;
                        Coproc.Fast.Fuzz.Campaigns.MaliciousGuestCampaign.WriteContext(ref rng, dev.Memory, slot);
                        dev.Mmio.Write64(MmioMap.EngineBase + (uint)(offset % 5) * 0x80 + (uint)((offset >> 3) & 1) * 0x10,
                            Coproc.Fast.Fuzz.Campaigns.MaliciousGuestCampaign.SaveArea(slot).Encoded);
                        break;
                    }
                }
            }
        }
        dev.Step(100_000);
    }
}
