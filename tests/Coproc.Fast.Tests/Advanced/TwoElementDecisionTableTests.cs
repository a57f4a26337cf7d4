using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Two-element run lists (seed 001 §6.4, solution 1): the driver learns that the pending list became current from the
/// decision table — a context-switch interrupt plus the running context, against the lists it built under rules 1 and 2
/// — not from a list serial the seed's hardware does not have. Shown by hiding RL_SERIAL from the run-list back end:
/// with the table driving, rotation among equals still runs every buffer, and the driver submits exactly the lists it
/// submits when the serial is visible.
/// </summary>
public class TwoElementDecisionTableTests
{
    /// <summary>The run-list back end's view of a device that reports no list serials (RL_SERIAL reads 0).</summary>
    private sealed class NoSerialBus(IDeviceBus inner) : IDeviceBus
    {
        private static readonly uint SerialOffset = MmioMap.RunListBase + RunListRegisters.EngineBase + RunListRegisters.Serial;

        public long SerialReads;
        public DeviceMemory Memory => inner.Memory;
        public DoorbellAperture Doorbells => inner.Doorbells;
        public ulong Cycle => inner.Cycle;

        public uint ReadRegister32(uint offset)
        {
            // Every engine's RL_SERIAL (one stride apart) reads as "no serial".
            if (offset >= SerialOffset && (offset - SerialOffset) % RunListRegisters.EngineStride == 0
                && (offset - SerialOffset) / RunListRegisters.EngineStride < 5)
            {
                SerialReads++;
                return 0;
            }
            return inner.ReadRegister32(offset);
        }

        public ulong ReadRegister(uint offset) => inner.ReadRegister(offset);
        public void WriteRegister(uint offset, ulong value) => inner.WriteRegister(offset, value);
        public void WriteRegister32(uint offset, uint value) => inner.WriteRegister32(offset, value);
        public void Kick() => inner.Kick();
    }

    private static (ulong[][] Lists, long[] Outcomes, long SerialReads) Run(bool hideSerial)
    {
        NoSerialBus? view = null;
        using var rig = new AdvancedRig(AdvancedRig.Small() with { QuantumCycles = 20_000 },
            hideSerial ? bus => view = new NoSerialBus(bus) : null);
        var processes = Enumerable.Range(0, 3).Select(_ => rig.Scheduler.CreateProcess()).ToArray();
        var contexts = processes.Select(p => rig.Scheduler.CreateContext(p)).ToArray();
        var targets = processes.Select(p => p.AllocatePinned(256 << 10)).ToArray();
        var tickets = new List<VaTicket>();
        for (int k = 0; k < 6; k++)
            for (int i = 0; i < contexts.Length; i++)
            {
                int slot = i, seq = k;
                tickets.Add(rig.Submit(contexts[i], (ref PacketWriter w) =>
                {
                    for (int f = 0; f < 16; f++) w.Fill(targets[slot].Va, (uint)(seq + f), 256 << 10);
                    w.WriteData(targets[slot].Va, 100 + (uint)seq);
                }));
            }

        Assert.That(rig.Machine.RunUntilIdle(), Is.True, $"serial hidden: {hideSerial}: the machine goes idle");
        Assert.That(tickets.All(t => t.IsComplete), Is.True);
        for (int i = 0; i < contexts.Length; i++) Assert.That(rig.Read32(targets[i], 0), Is.EqualTo(105u), $"context {i}'s last buffer");
        return (rig.Scheduler.SubmittedLists, rig.Scheduler.TwoElementOutcomeCounts, view?.SerialReads ?? -1);
    }

    [Test]
    public void WithoutListSerials_TheDecisionTableTellsTheDriverWhenThePendingListIsCurrent_AndEveryBufferRuns()
    {
        var (lists, outcomes, serialReads) = Run(hideSerial: true);

        Assert.That(serialReads, Is.Zero, "two-element mode never asks for a list serial");
        Assert.That(lists, Has.Length.GreaterThan(6), "equals rotated through many lists");
        long adopted = outcomes[(int)TwoElementOutcome.PendingHeadRunning] + outcomes[(int)TwoElementOutcome.PendingLeftHead];
        Assert.That(adopted, Is.GreaterThan(0), "pending lists were adopted on the table's answer");
        Assert.That(outcomes[(int)TwoElementOutcome.StillOnHead] + outcomes[(int)TwoElementOutcome.LeftHead], Is.GreaterThan(0),
            "and switches within the current list left the pending list pending");
    }

    [Test]
    public void TheTablesInferences_MatchTheDevice_TheSameListsAreSubmittedWhetherOrNotTheSerialIsVisible()
    {
        var hidden = Run(hideSerial: true);
        var visible = Run(hideSerial: false);
        Assert.That(hidden.Lists, Is.EqualTo(visible.Lists));
    }
}
