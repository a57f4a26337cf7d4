using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Submission;

/// <summary>
/// Found by <c>coproc-fuzz campaign submit</c> (seed 1, case 28): a DRAW_RECTS surface covers pitch × (height − 1) +
/// width × 4 bytes (native-layout.md §8A.1, <see cref="Surface.SpanBytes"/>), which is what the KMD checks on the kernel
/// path. A one-row surface may have any pitch, even 0, so its span is width × 4 whatever the pitch. docs/models.md "One
/// submission call" and <see cref="WorkRecorder"/> promise that the VA paths refuse an operand past the end of its
/// allocation (<see cref="CommandBufferRejection.OutOfBounds"/>) as the KMD does, before anything is written, instead of
/// the write reaching whatever the process has mapped after it.
/// </summary>
[TestFixture]
public class SubmissionDrawRectsBoundsTests
{
    // Process 1 names two of its pages, so both are mapped in its GPU space, then draws a one-row surface of 1,024 pixels
    // with pitch 0 at the last dword of the first page: 4 KiB past that page's end.
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void Reproducer_GivenAOneRowSurfaceWhoseWidthRunsPastTheEnd_ThenEveryPathRefusesItAsOutOfBounds_AndNothingIsWritten(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var first = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var second = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);
        Assert.That(m.TrySubmit(context, r => { r.WriteData(first, 0, 0x11111111u); r.WriteData(second, 0, 0x22222222u); }), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);

        var surface = new Surface(4092, 0, 1024, 1, PixelFormat.Bgra8888); // span 4,096 bytes from offset 4,092 of 4,096
        Assert.That(surface.IsWellFormed, Is.True, "premise: the device accepts the surface");
        var refused = Assert.Catch(() => m.TrySubmit(context, r => r.DrawRects(first, surface, [RectPrimitive.Fill(0, 0, 1024, 1, 0xFF6666FFu)])));
        Assert.That(refused, Is.InstanceOf<CommandBufferRejectedException>(), refused?.ToString());
        Assert.That(((CommandBufferRejectedException)refused!).Reason, Is.EqualTo(CommandBufferRejection.OutOfBounds));

        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(BitConverter.ToUInt32(ModelWorkload.Read(m, second, 4096)), Is.EqualTo(0x22222222u), "the second page's first dword");
        Assert.That(ModelWorkload.Read(m, second, 4096).Skip(4).Count(b => b != 0), Is.Zero, "bytes written into the second page");
        Assert.That(ModelWorkload.Read(m, first, 4096).Skip(4).Count(b => b != 0), Is.Zero, "bytes written into the first page");
    }
}
