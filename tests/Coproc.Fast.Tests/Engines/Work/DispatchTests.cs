using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines.Work;

public class DispatchTests
{
    private const ulong A = 0x0000_0001_0000_0000, B = 0x0000_0002_0000_0000;

    /// <summary>Bitwise CRC-32C (reflected polynomial 0x82F63B78), written from the definition.</summary>
    internal static uint ReferenceCrc32C(ReadOnlySpan<byte> data, uint previous = 0)
    {
        uint crc = ~previous;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        return ~crc;
    }

    private static uint[] Packet(DispatchKernel k, uint count, uint group, uint parameter = 0)
    {
        var p = new uint[DispatchPacket.SizeInDwords];
        DispatchPacket.Encode(p, k, count, group, A, B, parameter);
        return p;
    }

    [Test]
    public void Saxpy_ComputesMultiplyThenAdd_BitExactly_AcrossPagesAndGroups()
    {
        using var space = new TestGpuSpace();
        const int n = 3000; // 3 pages per buffer, group size 7 does not divide it
        space.Map(A, n * 4); space.Map(B, n * 4);
        var rng = new Random(1);
        var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 200 - 100)).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 200 - 100)).ToArray();
        space.Write<float>(A, x); space.Write<float>(B, y);
        var p = new uint[DispatchPacket.SizeInDwords];
        DispatchPacket.EncodeSaxpy(p, n, 7, A, B, 1.7f);

        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Done));

        var got = space.ReadU32(B, n);
        for (int i = 0; i < n; i++)
        {
            float product = 1.7f * x[i];
            Assert.That(got[i], Is.EqualTo(BitConverter.SingleToUInt32Bits(product + y[i])), $"element {i}");
        }
    }

    [Test]
    public void Reductions_WriteTheSumToB_OnceEveryGroupHasRun()
    {
        using var space = new TestGpuSpace();
        const int n = 2500;
        space.Map(A, n * 4); space.Map(B, 4096);
        var rng = new Random(2);
        var u = Enumerable.Range(0, n).Select(_ => (uint)rng.NextInt64(0, 1L << 32)).ToArray();
        space.Write<uint>(A, u);
        Assert.That(space.Run(Packet(DispatchKernel.ReduceSumU32, n, 64)), Is.EqualTo(WorkStatus.Done));
        ulong expectedU = 0;
        foreach (uint v in u) expectedU += v;
        Assert.That(BitConverter.ToUInt64(space.Read(B, 8)), Is.EqualTo(expectedU));

        var f = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 1e6 - 5e5)).ToArray();
        space.Write<float>(A, f);
        Assert.That(space.Run(Packet(DispatchKernel.ReduceSumF32, n, 100)), Is.EqualTo(WorkStatus.Done));
        double expectedF = 0;
        foreach (float v in f) expectedF += v;
        Assert.That(BitConverter.ToDouble(space.Read(B, 8)), Is.EqualTo(expectedF));
    }

    [Test]
    public void Crc32C_MatchesTheStandardCheckValue_AndContinuesFromTheParameter()
    {
        using var space = new TestGpuSpace();
        space.Map(A, 3 * 4096); space.Map(B, 4096);
        space.Write(A + 1, "123456789"u8);
        var p = new uint[DispatchPacket.SizeInDwords];
        DispatchPacket.Encode(p, DispatchKernel.Crc32C, 9, 4, A + 1, B);
        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Done));
        Assert.That(BitConverter.ToUInt32(space.Read(B, 4)), Is.EqualTo(0xE3069283u), "CRC-32C check value of \"123456789\"");

        var data = Enumerable.Range(0, 10000).Select(i => (byte)(i * 31 + (i >> 7))).ToArray();
        space.Write(A, data);
        uint firstPart = ReferenceCrc32C(data.AsSpan(0, 4000));
        DispatchPacket.Encode(p, DispatchKernel.Crc32C, 6000, 333, A + 4000, B, firstPart);
        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Done));
        Assert.That(BitConverter.ToUInt32(space.Read(B, 4)), Is.EqualTo(ReferenceCrc32C(data)));
    }

    [Test]
    public void PrefixSum_WritesInclusiveRunningSums_InPlace()
    {
        using var space = new TestGpuSpace();
        const int n = 1500;
        space.Map(A, n * 4);
        var u = Enumerable.Range(0, n).Select(i => (uint)(i * 2654435761u)).ToArray();
        space.Write<uint>(A, u);
        var p = new uint[DispatchPacket.SizeInDwords];
        DispatchPacket.Encode(p, DispatchKernel.PrefixSumU32, n, 50, A, A);

        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Done));

        uint sum = 0;
        var expected = u.Select(v => sum += v).ToArray();
        Assert.That(space.ReadU32(A, n), Is.EqualTo(expected));
    }

    [Test]
    public void Fault_InTheMiddleOfAGroup_ResumesWithoutApplyingSaxpyTwice()
    {
        using var space = new TestGpuSpace();
        const int n = 2048; // y spans two pages; a group of 2048 spans both
        space.Map(A, n * 4); space.Map(B, 4096);
        space.Write<float>(A, Enumerable.Repeat(1f, n).ToArray());
        var p = new uint[DispatchPacket.SizeInDwords];
        DispatchPacket.EncodeSaxpy(p, n, 2048, A, B, 2f);
        var state = default(WorkState);

        Assert.That(space.Run(p, ref state), Is.EqualTo(WorkStatus.Faulted));
        Assert.That(space.LastFault, Is.EqualTo(new WorkFault(B + 4096, TranslationStatus.InvalidAddress)));
        Assert.That((state.Step, state.SubStep), Is.EqualTo((0u, 1024u)), "group 0, 1024 elements done");

        space.Map(B + 4096, 4096);
        Assert.That(space.Run(p, ref state), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.ReadU32(B, n).Select(BitConverter.UInt32BitsToSingle), Is.All.EqualTo(2f));
    }

    [Test]
    public void Yields_BetweenGroups_ChargingLaunchPlusElementsOverLanes()
    {
        using var space = new TestGpuSpace();
        space.Map(A, 4096); space.Map(B, 4096);
        var p = Packet(DispatchKernel.ReduceSumU32, 1000, 100);
        var state = default(WorkState);
        long budget = 1;
        var s = WorkExecutor.Execute(Opcode.Dispatch, space.Memory, p, ref state, ref budget, WorkCosts.Default, out _);
        Assert.That((s, state.Step, budget), Is.EqualTo((WorkStatus.Yielded, 1u, 1L - (16 + 4))), "16 + ceil(100 / 32)");
    }

    [Test]
    public void Malformed_Dispatches_AreRejected()
    {
        using var space = new TestGpuSpace();
        space.Map(A, 4096); space.Map(B, 4096);
        Assert.That(space.Run(Packet((DispatchKernel)9, 10, 1)), Is.EqualTo(WorkStatus.Malformed), "unknown kernel");
        Assert.That(space.Run(Packet(DispatchKernel.Saxpy, 10, 0)), Is.EqualTo(WorkStatus.Malformed), "group size 0");
        Assert.That(space.Run(Packet(DispatchKernel.Saxpy, 10, 65537)), Is.EqualTo(WorkStatus.Malformed), "group too large");
        var p = Packet(DispatchKernel.ReduceSumU32, 10, 4);
        p[4] |= 2;
        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Malformed), "misaligned uint32 buffer");
        p = Packet(DispatchKernel.Saxpy, uint.MaxValue, 4);
        p[5] = 0xFFFF;
        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Malformed), "buffer past 2^48");
        var shortPacket = p.AsSpan(0, 8).ToArray();
        shortPacket[0] = PacketHeader.Make(Opcode.Dispatch, 8);
        Assert.That(space.Run(shortPacket), Is.EqualTo(WorkStatus.Malformed), "wrong length");
    }
}
