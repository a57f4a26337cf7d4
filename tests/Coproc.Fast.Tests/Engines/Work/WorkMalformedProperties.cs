using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.Engines.Work;

/// <summary>
/// malformed packets (random bytes, truncated, lengths past the end, huge sizes) never crash the host and
/// never touch memory outside the context's mappings; the result is always one of the four statuses.
/// </summary>
public class WorkMalformedProperties
{
    private const ulong M1 = 0x0000_0001_0000_0000, M2 = 0x0000_0002_0000_0000;
    private static readonly Opcode[] WorkOpcodes = [Opcode.DrawRects, Opcode.Dispatch, Opcode.VideoDecode, Opcode.VideoEncode];

    // Dword positions that hold a VA (low dword) in each packet, so random packets often point into mapped memory.
    private static int[] VaPositions(Opcode op) => op switch
    {
        Opcode.DrawRects => [1, 7],
        Opcode.Dispatch => [4, 6],
        Opcode.VideoDecode => [1, 4],
        _ => [1, 7, 10],
    };

    [FsProperty(MaxTest = 150, Replay = "(2026120202,15839)")]
    public void RandomPackets_EndMalformedFaultedOrDone_AndTouchOnlyMappedMemory(byte which, uint[] payload, int seed, bool honestLength)
    {
        var op = WorkOpcodes[which % 4];
        var rng = new Random(seed);
        int length = Math.Min(payload.Length + 1, 0xFFFF);
        var packet = new uint[length];
        payload.AsSpan(0, length - 1).CopyTo(packet.AsSpan(1));
        packet[0] = PacketHeader.Make(op, honestLength ? length : rng.Next(1, 0x10000));
        foreach (int at in VaPositions(op))
        {
            if (at + 1 >= length || rng.Next(3) == 0) continue;
            packet[at] = (uint)(rng.Next(2) == 0 ? M1 : M2) + (uint)rng.Next(0, 64) * 4;
            packet[at + 1] = (uint)((rng.Next(2) == 0 ? M1 : M2) >> 32);
        }
        // Small sizes make the packet reach real work more often.
        if (length > 5 && rng.Next(2) == 0) for (int i = 2; i < Math.Min(length, 14); i++) if (packet[i] > 4096 && rng.Next(2) == 0) packet[i] %= 300;

        using var space = new TestGpuSpace();
        space.Map(M1, 16384);
        space.Map(M2, 16384, MemoryLocation.System);
        var before = space.SnapshotOutsideMappings();

        var status = WorkResumeProperties.RunSliced(space, packet, [(uint)rng.Next(), (uint)rng.Next()], out _);

        Assert.That(status, Is.AnyOf(WorkStatus.Done, WorkStatus.Faulted, WorkStatus.Malformed));
        if (!honestLength && new PacketHeader(packet[0]).LengthDwords != length) Assert.That(status, Is.EqualTo(WorkStatus.Malformed));
        space.AssertUnchangedOutsideMappings(before, op.ToString());
    }

    [Test]
    public void WrongOpcode_OrFlags_OrEmptyPacket_IsMalformed()
    {
        using var space = new TestGpuSpace();
        var state = default(WorkState);
        long budget = 100;
        var p = new uint[DispatchPacket.SizeInDwords];
        DispatchPacket.Encode(p, DispatchKernel.Crc32C, 0, 1, M1, M1);
        Assert.That(WorkExecutor.Execute(Opcode.DrawRects, space.Memory, p, ref state, ref budget, WorkCosts.Default, out _), Is.EqualTo(WorkStatus.Malformed));
        Assert.That(WorkExecutor.Execute(Opcode.Copy, space.Memory, p, ref state, ref budget, WorkCosts.Default, out _), Is.EqualTo(WorkStatus.Malformed));
        Assert.That(WorkExecutor.Execute(Opcode.Dispatch, space.Memory, [], ref state, ref budget, WorkCosts.Default, out _), Is.EqualTo(WorkStatus.Malformed));
        p[0] |= 1 << 8;
        Assert.That(WorkExecutor.Execute(Opcode.Dispatch, space.Memory, p, ref state, ref budget, WorkCosts.Default, out _), Is.EqualTo(WorkStatus.Malformed));
        Assert.That(WorkExecutor.Handles(Opcode.VideoEncode) && !WorkExecutor.Handles(Opcode.Copy), Is.True);
        Assert.That(WorkExecutor.TryGetEngine(Opcode.DrawRects, out var e) && e == Device.Engines.EngineKind.Render, Is.True);
    }
}
