using System.Globalization;
using System.Text;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>One attacker submission: the context index, the command buffer and its resource list.</summary>
internal sealed record Ring0Buffer(int Context, uint[] Commands, ResourceReference[] Resources)
{
    /// <summary>
    /// Generates case input: a valid buffer on the attacker's own allocations (FILL, COPY, WRITE_DATA, FENCE, SIGNAL,
    /// WAIT that may hang, NOP), then — three times in four — one to four mutations: bit flips, boundary values,
    /// foreign opcodes (privileged, INDIRECT, engine work), raw privileged packets, truncation, and resource-list
    /// edits (other handles, offsets, ids, write flags, order, zero-length operands at the allocation's end).
    /// </summary>
    public static Ring0Buffer Generate(ref FuzzRandom rng, Ring0World world)
    {
        var own = world.AttackerAllocations;
        var sink = new CapturingSink();
        var b = new CommandBufferBuilder(sink, 4096, 256);
        int ops = 1 + rng.Below(6);
        for (int i = 0; i < ops; i++)
        {
            var h = own[rng.Below(own.Length)];
            ulong size = world.Machine.VidMm.SizeOf(h);
            ulong off = rng.Below(size / 4) * 4, len = Math.Max(4, rng.Below((size - off) / 4 + 1) * 4);
            if (off + len > size) len = size - off;
            switch (rng.Below(8))
            {
                case 0: b.Fill(h, off, rng.NextU32(), len); break;
                case 1:
                {
                    var d = own[rng.Below(own.Length)];
                    ulong dsize = world.Machine.VidMm.SizeOf(d);
                    ulong doff = rng.Below(dsize / 4) * 4;
                    ulong n = Math.Min(len, dsize - doff);
                    if (n > 0 && (d != h || doff >= off + n || off >= doff + n)) b.Copy(h, off, d, doff, n);
                    break;
                }
                case 2: b.WriteData(h, Math.Min(off, size - 8), [rng.NextU32(), rng.NextU32()]); break;
                case 3: b.Fence(h, Math.Min(off, size - 8) & ~7UL, rng.NextU64()); break;
                case 4: b.Signal(own[2], 64); break;
                case 5: if (rng.OneIn(3)) b.Wait(own[2], 128 + (ulong)rng.Below(4) * 8); else b.Nop(); break; // a wait nobody signals: TDR
                case 6: b.Nop(1 + rng.Below(8)); break;
                default: b.Fill(h, 0, rng.NextU32(), size); break;
            }
        }
        b.Flush();
        var cmds = new List<uint>(sink.Commands.Length == 0 ? [PacketHeader.Make(Opcode.Nop, 1)] : sink.Commands);
        var refs = new List<ResourceReference>(sink.References);
        if (!rng.OneIn(4))
        {
            int mutations = 1 + rng.Below(4);
            for (int m = 0; m < mutations; m++) Mutate(ref rng, world, cmds, refs);
        }
        if (cmds.Count == 0) cmds.Add(rng.NextU32());
        return new Ring0Buffer(rng.Below(world.AttackerContexts.Length), cmds.ToArray(), refs.ToArray());
    }

    private static readonly Opcode[] Opcodes = Enum.GetValues<Opcode>();

    private static void Mutate(ref FuzzRandom rng, Ring0World world, List<uint> cmds, List<ResourceReference> refs)
    {
        int at = cmds.Count == 0 ? 0 : rng.Below(cmds.Count);
        switch (rng.Below(12))
        {
            case 0: if (cmds.Count > 0) cmds[at] ^= 1u << rng.Below(32); break;
            case 1: if (cmds.Count > 0) cmds[at] = rng.Interesting32(); break;
            case 2: // a packet header with a foreign opcode (privileged, INDIRECT, work) and maybe a wrong length
                if (cmds.Count > 0) cmds[at] = PacketHeader.Make(rng.Pick(Opcodes), 1 + rng.Below(12), (byte)rng.Below(256));
                break;
            case 3: // a raw packet the KMD must refuse (or that must stay harmless): privileged, physical or redirecting
            {
                var raw = new uint[32];
                var w = new PacketWriter(raw);
                ulong any = rng.Interesting64();
                switch (rng.Below(8))
                {
                    case 0: w.Fill(any, 0xEE11EE11, 4096); break;
                    case 1: w.Indirect(any & ~3UL, (uint)rng.Below(64), rng.OneIn(2)); break;
                    case 2: w.UpdatePageTable(any, [rng.NextU64(), rng.NextU64()]); break;
                    case 3: w.RegWrite((uint)rng.Below(0x1000) & ~3u, rng.NextU32()); break;
                    case 4: w.PrivilegedFence(any, rng.NextU64()); break;
                    case 5: w.Copy(any, rng.Interesting64(), rng.Interesting64() & 0xFFFFF); break;
                    case 6: w.TlbFlushAll(); break;
                    default: w.DisableContextSwitch(); w.Wait(any); break;
                }
                cmds.InsertRange(Math.Min(at, cmds.Count), raw.AsSpan(0, w.Written).ToArray());
                break;
            }
            case 4: if (cmds.Count > 1) cmds.RemoveRange(at, cmds.Count - at); break;
            case 5: if (cmds.Count > 0) cmds.InsertRange(at, cmds.GetRange(at, Math.Min(cmds.Count - at, 1 + rng.Below(8)))); break;
            case 6: // another handle: the victims', stale, invented, null
                if (refs.Count > 0) refs[rng.Below(refs.Count)] = refs[rng.Below(refs.Count)] with { Handle = rng.Pick(world.KnownHandles) };
                break;
            case 7:
                if (refs.Count > 0)
                {
                    int i = rng.Below(refs.Count);
                    refs[i] = rng.Below(3) switch
                    {
                        0 => refs[i] with { BufferOffset = rng.Interesting32() },
                        1 => refs[i] with { ResourceId = (ushort)rng.Interesting32() },
                        _ => refs[i] with { Write = !refs[i].Write },
                    };
                }
                break;
            case 8: if (refs.Count > 0) refs.RemoveAt(rng.Below(refs.Count)); else refs.Add(new ResourceReference(rng.Pick(world.KnownHandles), (uint)at * 4, 0, true)); break;
            case 9: if (refs.Count > 1) { int i = rng.Below(refs.Count), j = rng.Below(refs.Count); (refs[i], refs[j]) = (refs[j], refs[i]); } break;
            case 10: // an operand's offset/length at its allocation's edges: offset = size with zero length, or past it
                ZeroLengthAtEnd(ref rng, world, cmds, refs);
                break;
            default: if (refs.Count > 0) refs.Add(refs[rng.Below(refs.Count)]); break;
        }
    }

    private static void ZeroLengthAtEnd(ref FuzzRandom rng, Ring0World world, List<uint> cmds, List<ResourceReference> refs)
    {
        var h = rng.OneIn(3) ? rng.Pick(world.StaleHandles) : rng.Pick(world.AttackerAllocations);
        ulong size = world.Machine.VidMm.IsLive(h) ? world.Machine.VidMm.SizeOf(h) : 4096;
        ulong offset = rng.Below(3) switch { 0 => size, 1 => size - 4, _ => size + 4 };
        ulong bytes = rng.OneIn(2) ? 0UL : 4UL;
        var raw = new uint[8];
        var w = new PacketWriter(raw);
        if (rng.OneIn(2)) w.Fill(offset, 0xFA11FA11, bytes); else w.Copy(offset, 0, bytes);
        int pos = 0;
        for (int i = 0; i < cmds.Count;) { int len = new PacketHeader(cmds[i]).LengthDwords; if (len == 0) break; i += len; pos = i; } // after the last whole packet
        pos = Math.Min(pos, cmds.Count);
        cmds.InsertRange(pos, raw.AsSpan(0, w.Written).ToArray());
        var r = new ResourceReference(h, (uint)pos * 4, 0, true);
        int insertAt = refs.FindIndex(x => x.BufferOffset > r.BufferOffset);
        if (insertAt < 0) refs.Add(r); else refs.Insert(insertAt, r);
        if (w.Written > 0 && new PacketHeader(raw[0]).Opcode == Opcode.Copy) // COPY has two operands: source in the attacker's first allocation
        {
            var src = new ResourceReference(world.AttackerAllocations[0], (uint)pos * 4, 1, false);
            refs.Insert(refs.IndexOf(r), src);
        }
    }

    /// <summary>C#-like text a reader can paste into a test: the context, the dwords and the resource list.</summary>
    public string Describe(Ring0World world)
    {
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"    attacker context {Context} ({world.AttackerContexts[Context].Engine}); {Commands.Length} dwords:");
        for (int i = 0; i < Commands.Length; i++)
        {
            if (i % 8 == 0) s.Append(CultureInfo.InvariantCulture, $"\n      [{i * 4,5}] ");
            s.Append(CultureInfo.InvariantCulture, $"0x{Commands[i]:X8} ");
        }
        s.Append("\n    resources:");
        if (Resources.Length == 0) s.Append(" none");
        foreach (var r in Resources)
            s.Append(CultureInfo.InvariantCulture, $"\n      {world.NameOf(r.Handle)} at buffer byte {r.BufferOffset}, id {r.ResourceId}, {(r.Write ? "write" : "read")}");
        return s.ToString();
    }
}
