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
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
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

    /// <summary>
    /// The table's one ambiguous case: the pending list's head is the current list's second entry and the engine runs
    /// it — inside the current list (here held there by a no-switch region, so the device keeps the new list pending)
    /// or already on the new one. The driver adopts only once the device no longer holds the pending list; adopting
    /// early made its next submission meet PendingBusy (a RunListSubmitException out of the timer).
    /// </summary>
    [Test]
    public void WhenThePendingHeadIsTheRunningSecondEntry_TheDriverAdoptsOnlyOnceTheDeviceTookTheList()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.TwoElement) with { QuantumCycles = 20_000 });
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p);
        var b = rig.Scheduler.CreateContext(p);
        var c = rig.Scheduler.CreateContext(p);
        var big = p.AllocatePinned(4 << 20);
        var stamps = p.AllocatePinned(4096);
        var packets = new uint[4];
        var ta = rig.Submit(a, (ref PacketWriter w) => w.Timestamp(stamps.Va));
        // b: a long stretch inside a no-switch region (the device defers taking a pending list until ENABLE).
        new PacketWriter(packets).DisableContextSwitch();
        Assert.That(rig.Scheduler.TrySubmitKernelCommands(b, packets.AsSpan(0, 1), out _), Is.True);
        var tb = rig.Submit(b, (ref PacketWriter w) => { for (int i = 0; i < 8; i++) w.Fill(big.Va, (uint)i, 4 << 20); w.Timestamp(stamps.Va + 8); });
        new PacketWriter(packets).EnableContextSwitch();
        Assert.That(rig.Scheduler.TrySubmitKernelCommands(b, packets.AsSpan(0, 1), out var enabled), Is.True);
        var tc = rig.Submit(c, (ref PacketWriter w) => w.Timestamp(stamps.Va + 16));

        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(ta.IsComplete && tb.IsComplete && tc.IsComplete && enabled.IsComplete, Is.True);
        // (a, b) then (b, c): the case the table cannot tell by the running context alone.
        Assert.That(rig.Scheduler.SubmittedLists.Any(l => l.Length == 2), Is.True);
    }
}
