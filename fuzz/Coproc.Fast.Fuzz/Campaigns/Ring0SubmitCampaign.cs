using System.Globalization;
using System.Diagnostics;
using System.Text;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>
/// Ring 0 submit: mutated command buffers and resource lists from an attacker process through <c>Kmd.Submit</c>, in
/// batches of eight, each batch run to idle. Oracle: <c>Submit</c> throws nothing but
/// <c>CommandBufferRejectedException</c>; running throws nothing into the host, goes idle within its bound and leaves
/// no submission pending; no byte of a victim's or bystander's allocation, no kernel-view PTE of theirs and no victim
/// kernel ring changes; every 64 cases and at the end the victim's fresh FILL over a multi-extent allocation and a
/// WRITE_DATA complete with every byte right.
/// </summary>
internal sealed class Ring0SubmitCampaign : ICampaign
{
    private const int Batch = 8;

    public string Name => "ring0";

    public string Description => "mutated command buffers through Kmd.Submit; victims' bytes, PTEs and rings unchanged; fresh job right";

    public void Run(CampaignSettings settings, CampaignStats stats, Heartbeat heartbeat)
    {
        var clock = Stopwatch.StartNew();
        using var world = new Ring0World();
        var batch = new List<(long Case, Ring0Buffer Buffer)>();
        for (long i = 0; i < settings.Iterations && clock.Elapsed < settings.Budget; i++)
        {
            heartbeat.Beat($"case {i}");
            var rng = FuzzRandom.ForCase(settings.Seed, i);
            var buffer = Ring0Buffer.Generate(ref rng, world);
            batch.Add((i, buffer));
            bool accepted;
            Coproc.Fast.Driver.Kernel.CommandBufferRejection reason;
            try { accepted = world.Submit(buffer.Context, buffer.Commands, buffer.Resources, out reason); }
            catch (Exception e)
            {
                throw Fail(settings, world, batch, $"Kmd.Submit threw an undocumented {e.GetType().FullName}: {e.Message}", e);
            }
            stats.Cases++;
            stats.Count(accepted ? "accepted" : "rejected");
            if (!accepted) stats.Count($"rejected:{reason}");
            bool last = i + 1 >= settings.Iterations;
            if (batch.Count == Batch || last)
            {
                string? broken = world.RunAndCheck();
                if (broken is not null) throw Fail(settings, world, batch, broken);
                if ((i + 1) % 64 == 0)
                {
                    broken = world.FreshJob();
                    if (broken is not null) throw Fail(settings, world, batch, "fresh valid job: " + broken);
                    stats.Count("fresh jobs right");
                }
                batch.Clear();
            }
        }
        string? end = world.RunAndCheck() ?? world.FreshJob();
        if (end is not null) throw Fail(settings, world, batch, "after the campaign: " + end);
        stats.Count("fresh jobs right");
        stats.Count("resets", world.AttackerContexts.Sum(c => c.Resets));
    }

    // Replays the failing batch alone on a fresh world, then drops buffers and packets while the same kind of failure
    // stays; the result (or the note that only the whole history reproduces it) is the reproducer.
    private static CampaignFailure Fail(CampaignSettings s, Ring0World world, List<(long Case, Ring0Buffer Buffer)> batch, string what, Exception? inner = null)
    {
        long failingCase = batch.Count > 0 ? batch[^1].Case : -1;
        var buffers = batch.Select(b => b.Buffer).ToList();
        string kind = Kind(what);
        var repro = new StringBuilder();
        if (buffers.Count > 0 && Kind(Replay(buffers)) == kind)
        {
            var deadline = Stopwatch.StartNew();
            for (int k = buffers.Count - 1; k >= 0 && buffers.Count > 1 && deadline.Elapsed.TotalSeconds < 30; k--)
            {
                var without = buffers.Where((_, j) => j != k).ToList();
                if (Kind(Replay(without)) == kind) buffers = without;
            }
            for (int b = 0; b < buffers.Count && deadline.Elapsed.TotalSeconds < 45; b++)
                for (int k = Packets(buffers[b].Commands).Count - 1; k >= 0; k--) // whole packets first
                {
                    var packets = Packets(buffers[b].Commands);
                    if (packets.Count <= 1 || k >= packets.Count) continue;
                    var (start, length) = packets[k];
                    var trial = buffers.ToList();
                    var cmds = trial[b].Commands.ToList();
                    cmds.RemoveRange(start, length);
                    // resource entries at or after the removed packet move with it; one naming it goes
                    var refs = trial[b].Resources.Where(r => r.BufferOffset != (uint)start * 4)
                        .Select(r => r.BufferOffset > (uint)start * 4 ? r with { BufferOffset = r.BufferOffset - (uint)length * 4 } : r).ToArray();
                    trial[b] = trial[b] with { Commands = cmds.ToArray(), Resources = refs };
                    if (Kind(Replay(trial)) == kind) buffers = trial;
                }
            for (int b = 0; b < buffers.Count && deadline.Elapsed.TotalSeconds < 60; b++)
                for (int d = buffers[b].Commands.Length - 1; d >= 0 && buffers[b].Commands.Length > 1; d--)
                {
                    var trial = buffers.ToList();
                    trial[b] = trial[b] with { Commands = trial[b].Commands.Where((_, j) => j != d).ToArray() };
                    if (Kind(Replay(trial)) == kind) buffers = trial;
                }
            repro.AppendLine(CultureInfo.InvariantCulture, $"  minimized: on a fresh Ring0World (fuzz/Coproc.Fast.Fuzz/Harness/Ring0World.cs) submit, then RunAndCheck:");
            using var fresh = new Ring0World();
            foreach (var b in buffers) repro.AppendLine(b.Describe(fresh));
        }
        else
        {
            repro.AppendLine(CultureInfo.InvariantCulture, $"  does not reproduce from this batch alone (needs the machine's history): replay cases 0..{failingCase}");
            foreach (var (c, b) in batch) repro.AppendLine(CultureInfo.InvariantCulture, $"  case {c}:").AppendLine(b.Describe(world));
        }
        return new CampaignFailure(failingCase, what, repro.ToString(), inner);
    }

    // (start, length) of each decodable packet; the undecodable tail is one piece.
    private static List<(int Start, int Length)> Packets(uint[] commands)
    {
        var list = new List<(int, int)>();
        for (int off = 0; off < commands.Length;)
        {
            int len = new Coproc.Fast.Device.Packets.PacketHeader(commands[off]).LengthDwords;
            if (len == 0 || off + len > commands.Length) { list.Add((off, commands.Length - off)); break; }
            list.Add((off, len));
            off += len;
        }
        return list;
    }

    private static string? Replay(List<Ring0Buffer> buffers)
    {
        using var world = new Ring0World();
        try
        {
            foreach (var b in buffers) world.Submit(b.Context, b.Commands, b.Resources, out _);
        }
        catch (Exception e) { return $"Kmd.Submit threw an undocumented {e.GetType().FullName}"; }
        return world.RunAndCheck() ?? (world.FreshJob() is { } f ? "fresh valid job: " + f : null);
    }

    // Failures of the same kind: the message up to its first number or colon.
    private static string Kind(string? what)
    {
        if (what is null) return "";
        if (what.StartsWith("after the campaign: ", StringComparison.Ordinal)) what = what["after the campaign: ".Length..];
        int cut = what.IndexOfAny(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', '(']);
        return cut > 0 ? what[..cut] : what;
    }
}
