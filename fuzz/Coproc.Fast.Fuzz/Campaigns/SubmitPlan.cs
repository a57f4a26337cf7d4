using System.Globalization;
using System.Text;
using Coproc.Fast.Driver;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>A <see cref="Coproc.Fast.Driver.WorkRecorder"/> operation.</summary>
internal enum OpKind : byte { Fill, Copy, WriteData, Fence, Wait, Signal, Trap, DrawRects }

/// <summary>
/// One recorded operation on entries of <see cref="SubmitWorld"/>'s handle table, repeated <paramref name="Repeat"/>
/// times (a recording too large for its path). DRAW_RECTS: the surface (pitch, width, height) at <paramref name="Offset"/>
/// of the target, <paramref name="Primitives"/> solid fills.
/// </summary>
internal sealed record SubmitOp(OpKind Kind, int Target, ulong Offset, ulong Length, int Source, ulong SourceOffset, uint Value,
    uint Pitch, uint Width, uint Height, int Primitives, int Repeat)
{
    public override string ToString()
    {
        string t = SubmitWorld.NameOf(Target);
        string rep = Repeat > 1 ? $" ×{Repeat}" : "";
        return Kind switch
        {
            OpKind.Fill => $"Fill({t}, 0x{Offset:X}, 0x{Value:X8}, 0x{Length:X}){rep}",
            OpKind.Copy => $"Copy({t}, 0x{Offset:X}, {SubmitWorld.NameOf(Source)}, 0x{SourceOffset:X}, 0x{Length:X}){rep}",
            OpKind.WriteData => $"WriteData({t}, 0x{Offset:X}, 0x{Value:X8}){rep}",
            OpKind.Fence => $"Fence({t}, 0x{Offset:X}, {Value}){rep}",
            OpKind.Wait => $"Wait({t}, 0x{Offset:X}){rep}",
            OpKind.Signal => $"Signal({t}, 0x{Offset:X}){rep}",
            OpKind.Trap => $"Trap({Value}){rep}",
            _ => $"DrawRects({t}, surface at 0x{Offset:X} pitch {Pitch} {Width}x{Height}, {Primitives} fills){rep}",
        };
    }
}

/// <summary>What a step of a case does.</summary>
internal enum StepKind : byte { Submit, Run, RunUntilIdle, Checkpoint, Revoke, ReplaceQueue }

/// <summary>Which context a submission names.</summary>
internal enum ContextChoice : byte { Main, Copy, Foreign, Dead }

/// <summary>
/// One step of a case. Submit: <paramref name="Ops"/> recorded on the chosen context; the callback throws before op
/// <paramref name="ThrowAt"/> (−1: never), catches the recorder's exceptions and goes on when <paramref name="Swallow"/>,
/// unregisters its own queue at the end when <paramref name="UnregisterInside"/>, and starts with a WRITE_DATA of a marker
/// into the attacker's witness page when <paramref name="Witness"/> (a refused recording must never write it).
/// Checkpoint: <paramref name="Admin"/> bits 0 free a3, 1 the victim allocates, 2 the owner frees the share taken back.
/// </summary>
internal sealed record SubmitStep(StepKind Kind, ContextChoice Context = ContextChoice.Main, SubmitOp[]? Ops = null, int ThrowAt = -1,
    bool Swallow = false, bool UnregisterInside = false, bool Witness = false, ulong Cycles = 0, int Admin = 0)
{
    public string Describe()
    {
        switch (Kind)
        {
            case StepKind.Submit:
                var s = new StringBuilder($"TrySubmit({Context} context");
                if (Witness) s.Append(", witness marker first");
                if (ThrowAt >= 0) s.Append(CultureInfo.InvariantCulture, $", callback throws before op {ThrowAt}");
                if (Swallow) s.Append(", callback swallows the recorder's exceptions");
                if (UnregisterInside) s.Append(", callback unregisters its queue");
                s.Append("): ").Append(string.Join("; ", Ops ?? []));
                return s.ToString();
            case StepKind.Run: return $"RunFor({Cycles})";
            case StepKind.RunUntilIdle: return $"RunUntilIdle({Cycles}) (not an oracle)";
            case StepKind.Revoke: return "the victim takes its share back (Disown)";
            case StepKind.ReplaceQueue: return "the attacker unregisters its main queue and opens another";
            default:
                return "checkpoint: ledger, fresh victim job, release the attacker's WAITs, run to idle, ledger, stray writes, witness" +
                       ((Admin & 1) != 0 ? ", then free a3" : "") + ((Admin & 2) != 0 ? ", then the victim allocates" : "") +
                       ((Admin & 4) != 0 ? ", then the owner frees the share taken back" : "");
        }
    }
}

/// <summary>One case: a model, the machine's parameters and the steps, all drawn from the case's generator.</summary>
internal sealed record SubmitPlan(SchedulingModel Model, int AttackerPriority, bool BigManaged, List<SubmitStep> Steps)
{
    public static SubmitPlan Generate(ref FuzzRandom rng)
    {
        var model = (SchedulingModel)rng.Below(3);
        int priority = rng.Below(SubmitWorld.VictimPriority + 1);
        bool big = model != SchedulingModel.Hardware && rng.OneIn(3);
        int n = 4 + rng.Below(28);
        var steps = new List<SubmitStep>();
        for (int i = 0; i < n; i++)
        {
            int k = rng.Below(100);
            if (k < 60) steps.Add(Submit(ref rng, model, big));
            else if (k < 75) steps.Add(new SubmitStep(StepKind.Run, Cycles: 1_000 + rng.Below(2_000_000UL)));
            else if (k < 80) steps.Add(new SubmitStep(StepKind.RunUntilIdle, Cycles: 1_000_000 + rng.Below(20_000_000UL)));
            else if (k < 88) steps.Add(new SubmitStep(StepKind.Checkpoint, Admin: rng.Below(8)));
            else if (k < 93) steps.Add(new SubmitStep(StepKind.Revoke));
            else if (k < 96 && model == SchedulingModel.Hardware) steps.Add(new SubmitStep(StepKind.ReplaceQueue));
            else steps.Add(Submit(ref rng, model, big));
        }
        steps.Add(new SubmitStep(StepKind.Checkpoint, Admin: rng.Below(8)));
        return new SubmitPlan(model, priority, big, steps);
    }

    private static SubmitStep Submit(ref FuzzRandom rng, SchedulingModel model, bool big)
    {
        var ctx = rng.Below(20) switch
        {
            0 => ContextChoice.Foreign,
            1 => ContextChoice.Dead,
            2 or 3 => ContextChoice.Copy,
            _ => ContextChoice.Main,
        };
        int count = 1 + rng.Below(6);
        var ops = new SubmitOp[count];
        bool valid = rng.OneIn(3); // work the attacker may do, so its memory is used, paged and evicted
        for (int i = 0; i < count; i++) ops[i] = valid ? ValidOp(ref rng, big) : Op(ref rng, big);
        if (rng.OneIn(20))
        {
            var o = ops[rng.Below(count)];
            // Larger than one DMA buffer, run-list buffer or ring; repeated TRAPs overflow the interrupt queue's 64 entries
            // (docs/containment.md "An interrupt flood", Submission/SubmissionTrapFloodTests).
            int repeat = 500 + rng.Below(6000);
            ops[rng.Below(count)] = o with { Repeat = repeat };
        }
        return new SubmitStep(StepKind.Submit, ctx, ops, ThrowAt: rng.OneIn(12) ? rng.Below(count + 1) : -1, Swallow: rng.OneIn(6),
            UnregisterInside: model == SchedulingModel.Hardware && ctx == ContextChoice.Main && rng.OneIn(25), Witness: rng.OneIn(2));
    }


    private static readonly int[] Own = [SubmitWorld.A0, SubmitWorld.A1, SubmitWorld.Counters, SubmitWorld.Witness, SubmitWorld.AManaged, SubmitWorld.A3];
    private static readonly int[] Others =
    [
        SubmitWorld.V0, SubmitWorld.V1, SubmitWorld.VManaged, SubmitWorld.B0, SubmitWorld.B1, SubmitWorld.StaleBehindRecord, SubmitWorld.StaleDisowned,
        SubmitWorld.Invented, SubmitWorld.Null, SubmitWorld.V0WrongGeneration, SubmitWorld.VNew,
    ];

    private static int Handle(ref FuzzRandom rng)
    {
        int k = rng.Below(100);
        if (k < 50) return rng.Pick(Own);
        if (k < 65) return SubmitWorld.VShared;
        return rng.Pick(Others);
    }

    // Offsets and lengths biased towards an allocation's boundaries and towards overflowing arithmetic.
    private static ulong Offset(ref FuzzRandom rng, ulong size) => rng.Below(12) switch
    {
        0 => 0,
        1 => size,
        2 => size - 4,
        3 => size + 4,
        4 => size - 8,
        5 => 4096UL * rng.Below(size / 4096 + 2),
        6 => rng.Interesting64(),
        7 => ulong.MaxValue - rng.Below(16UL),
        8 => rng.Below(size) | 1, // unaligned
        _ => rng.Below(size) & ~3UL,
    };

    private static ulong Length(ref FuzzRandom rng, ulong size, ulong offset) => rng.Below(12) switch
    {
        0 => 0,
        1 => 4,
        2 => size,
        3 => size - offset,
        4 => size - offset + 4,
        5 => rng.Interesting64(),
        6 => ulong.MaxValue - rng.Below(16UL),
        7 => 1 + rng.Below(7UL),
        _ => offset < size ? 4 + (rng.Below(size - offset) & ~3UL) : 4096,
    };

    // An operation on the attacker's own memory (or the share), inside its allocations and dword-aligned.
    private static SubmitOp ValidOp(ref FuzzRandom rng, bool big)
    {
        var kind = (OpKind)rng.Below(7); // no DRAW_RECTS: it runs on the render engine only
        int target = rng.OneIn(4) ? SubmitWorld.VShared : rng.Pick(Own);
        if (kind is OpKind.Wait) target = SubmitWorld.Counters;
        ulong size = SubmitWorld.SizeOf(target, big);
        ulong offset = rng.Below(size / 4) * 4;
        ulong length = 4 + rng.Below((size - offset) / 4) * 4;
        if (offset + length > size) length = size - offset;
        if (kind == OpKind.Fence) offset = Math.Min(offset, size - 8) & ~7UL;
        int source = rng.Pick(Own);
        ulong sourceSize = SubmitWorld.SizeOf(source, big);
        if (length > sourceSize) length = sourceSize;
        if (offset + length > size) length = size - offset;
        ulong sourceOffset = rng.Below((sourceSize - length) / 4 + 1) * 4;
        if (kind == OpKind.Copy && source == target && rng.OneIn(2)) sourceOffset = offset; // an overlapping COPY faults the attacker alone
        return new SubmitOp(kind, target, offset, length, source, sourceOffset, rng.NextU32(), 0, 0, 0, 0, 1);
    }

    private static SubmitOp Op(ref FuzzRandom rng, bool big)
    {
        var kind = (OpKind)rng.Below(8);
        int target = Handle(ref rng);
        if (kind is OpKind.Wait && target == SubmitWorld.AManaged) target = SubmitWorld.Counters; // only pinned counters are released
        ulong size = SubmitWorld.SizeOf(target, big);
        ulong offset = Offset(ref rng, size);
        if (kind is OpKind.Wait or OpKind.Signal && rng.OneIn(2)) offset = 4UL * rng.Below(16UL); // mostly real counters
        ulong length = Length(ref rng, size, offset);
        int source = Handle(ref rng);
        ulong sourceOffset = Offset(ref rng, SubmitWorld.SizeOf(source, big));
        uint value = rng.Interesting32();
        uint pitch = 0, width = 0, height = 0;
        int primitives = 1;
        if (kind == OpKind.DrawRects)
        {
            switch (rng.Below(5))
            {
                case 0: // a packed surface that fits
                    width = 1 + (uint)rng.Below(64);
                    height = 1 + (uint)rng.Below((int)Math.Max(1, Math.Min(64UL, size / (width * 4UL))));
                    pitch = width * 4;
                    break;
                case 1: // one row whose pitch is less than its width: the span is width × 4 bytes
                    height = 1;
                    width = 1 + (uint)rng.Below(16384);
                    pitch = rng.OneIn(2) ? 0 : 4 * (uint)rng.Below(16);
                    break;
                case 2: // a wide pitch
                    width = 1 + (uint)rng.Below(32);
                    height = 1 + (uint)rng.Below(8);
                    pitch = width * 4 + 4 * (uint)rng.Below(4096);
                    break;
                default:
                    pitch = rng.Interesting32();
                    width = rng.OneIn(2) ? rng.Interesting32() : (uint)rng.Below(20000);
                    height = rng.OneIn(2) ? rng.Interesting32() : (uint)rng.Below(20000);
                    break;
            }
            primitives = rng.OneIn(30) ? 10000 + rng.Below(2000) : 1 + rng.Below(4); // past MaxPrimitives, or a few
            if (rng.OneIn(2)) offset &= ~3UL;
        }
        return new SubmitOp(kind, target, offset, length, source, sourceOffset, value, pitch, width, height, primitives, 1);
    }

    public string Describe()
    {
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"  model {Model}, attacker priority {AttackerPriority}, {(BigManaged ? "3 MiB attacker and 1 MiB victim" : "256 KiB attacker and 64 KiB victim")} managed allocations; steps:\n");
        for (int i = 0; i < Steps.Count; i++) s.Append(CultureInfo.InvariantCulture, $"    {i}: {Steps[i].Describe()}\n");
        return s.ToString();
    }
}
