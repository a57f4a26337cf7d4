using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.Engines.Work;

/// <summary>
/// Seed 001 §4.1 / a packet interrupted at any unit boundary, its <see cref="WorkState"/> saved and
/// restored verbatim, ends with memory byte-identical to one uninterrupted run.
/// </summary>
public class WorkResumeProperties
{
    /// <summary>Runs with the budgets in <paramref name="slices"/> (cycled), saving and restoring the state as raw bytes each time.</summary>
    internal static WorkStatus RunSliced(TestGpuSpace space, uint[] packet, uint[] slices, out int calls)
    {
        var opcode = new PacketHeader(packet[0]).Opcode;
        Span<byte> saveArea = stackalloc byte[32];
        saveArea.Clear();
        long carried = 0;
        for (calls = 1; calls < 200_000; calls++)
        {
            var state = MemoryMarshal.Read<WorkState>(saveArea); // restore
            long budget = carried + 1 + (slices.Length == 0 ? 0 : slices[calls % slices.Length] % 300);
            var s = WorkExecutor.Execute(opcode, space.Memory, packet, ref state, ref budget, WorkCosts.Default, out _);
            MemoryMarshal.Write(saveArea, in state); // save
            carried = Math.Min(budget, 0); // an overdrawn budget is paid back from the next slice
            if (s != WorkStatus.Yielded) return s;
        }
        Assert.Fail("did not finish");
        return WorkStatus.Yielded;
    }

    [FsProperty(MaxTest = 40, Replay = "(2026120303,23757)")]
    public void DrawRects_InterruptedAtRandomBudgets_EndsIdenticalToOneRun_AndToTheModel(int seed, uint[] slices)
    {
        var scene = new DrawRectsScenario(seed);
        using var space = scene.CreateSpace();
        Assert.That(space.Run(scene.Packet), Is.EqualTo(WorkStatus.Done));
        var once = space.ReadU32(DrawRectsScenario.TargetVa, scene.TargetPixels.Length);
        Assert.That(once, Is.EqualTo(scene.Expected()));

        scene.Reset(space);
        Assert.That(RunSliced(space, scene.Packet, slices, out _), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.ReadU32(DrawRectsScenario.TargetVa, scene.TargetPixels.Length), Is.EqualTo(once));
    }

    [FsProperty(MaxTest = 40, Replay = "(2026120404,31677)")]
    public void Dispatch_InterruptedAtRandomBudgets_EndsBitIdenticalToOneRun(int seed, uint[] slices)
    {
        const ulong A = 0x0000_0001_0000_0000, B = 0x0000_0002_0000_0000;
        var rng = new Random(seed);
        var kernel = (DispatchKernel)rng.Next(5);
        uint count = (uint)rng.Next(0, 6000), group = (uint)rng.Next(1, 700);
        var input = new uint[count];
        for (int i = 0; i < input.Length; i++)
            input[i] = kernel is DispatchKernel.Saxpy or DispatchKernel.ReduceSumF32
                ? BitConverter.SingleToUInt32Bits((float)(rng.NextDouble() * 2e4 - 1e4))
                : (uint)rng.NextInt64(0, 1L << 32);
        var output = input.Select(v => v ^ 0x3F800000u).ToArray();
        var packet = new uint[DispatchPacket.SizeInDwords];
        DispatchPacket.Encode(packet, kernel, count, group, A, B, kernel == DispatchKernel.Saxpy ? BitConverter.SingleToUInt32Bits(0.37f) : (uint)seed);
        using var space = new TestGpuSpace();
        space.Map(A, count * 4 + 8); space.Map(B, count * 4 + 8, MemoryLocation.System);

        void Reset() { space.Write<uint>(A, input); space.Write<uint>(B, [.. output, 0u, 0u]); }
        Reset();
        Assert.That(space.Run(packet), Is.EqualTo(WorkStatus.Done));
        var once = space.Read(B, (int)count * 4 + 8);
        Reset();
        Assert.That(RunSliced(space, packet, slices, out _), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.Read(B, (int)count * 4 + 8), Is.EqualTo(once));
    }

    [FsProperty(MaxTest = 30, Replay = "(2026120505,39595)")]
    public void VideoEncodeThenDecode_InterruptedAtRandomBudgets_EndIdenticalToOneRun(int seed, uint[] slices)
    {
        const ulong In = 0x0000_0003_0000_0000, Out = 0x0000_0005_0000_0000, Size = 0x0000_0006_0000_0000, Dec = 0x0000_0007_0000_0000;
        var rng = new Random(seed);
        uint w = (uint)rng.Next(0, 2100), h = (uint)rng.Next(1, 5);
        var pixels = VideoTests.RandomRunnyPixels(rng, (int)(w * h));
        ulong cap = VideoBitstream.MaxEncodedBytes(w, h);
        using var space = new TestGpuSpace();
        space.Map(In, w * h * 4 + 4); space.Map(Out, cap + 4); space.Map(Size, 4); space.Map(Dec, w * h * 4 + 4);
        space.Write<uint>(In, pixels);
        var enc = new uint[VideoEncodePacket.SizeInDwords];
        VideoEncodePacket.Encode(enc, Surface.Packed(In, w, h), Out, (uint)cap, Size);

        Assert.That(space.Run(enc), Is.EqualTo(WorkStatus.Done));
        var encodedOnce = space.Read(Out, (int)cap);
        uint size = BitConverter.ToUInt32(space.Read(Size, 4));
        space.Write(Out, new byte[cap]); space.Write(Size, new byte[4]);
        Assert.That(RunSliced(space, enc, slices, out _), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.Read(Out, (int)cap), Is.EqualTo(encodedOnce));
        Assert.That(BitConverter.ToUInt32(space.Read(Size, 4)), Is.EqualTo(size));

        var dec = new uint[VideoDecodePacket.SizeInDwords];
        VideoDecodePacket.Encode(dec, Out, size, Surface.Packed(Dec, w, h));
        Assert.That(RunSliced(space, dec, slices, out _), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.ReadU32(Dec, pixels.Length), Is.EqualTo(pixels));
    }
}
