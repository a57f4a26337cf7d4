using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Tests.Present;

[TestFixture]
public sealed class ReadmePresentExampleTests
{
    [Test]
    public void ReadmePresentExample_DrawsIntoTheBackBufferAndFlipsAtTheVsync()
    {
        using var m = new Machine(new MachineOptions { Device = new CoprocessorOptions { VsyncPeriodCycles = 1_000_000 } });
        m.Display.SetMode(320, 200);
        var front = m.Display.CreatePrimarySurface(1); var back = m.Display.CreatePrimarySurface(1);
        m.Display.Show(front);
        var ctx = m.CreateContext(1, priority: 0, EngineKind.Render);
        m.Display.CreateFlipChain(ctx, bufferCount: 2);
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(1, ctx));
        umd.DrawRects(back, Surface.Packed(0, 320, 200), [RectPrimitive.Fill(0, 0, 320, 200, 0xFF2060A0)]);
        umd.Flush();
        m.Display.TryFlip(1, ctx, back, FlipKind.Vsync, out long flip);
        m.RunUntilIdle();

        Assert.That(m.Display.StatusOf(ctx, flip), Is.EqualTo(FlipStatus.Presented));
        var frame = DisplayedFrame.Read(m.Bus);
        Assert.That((frame.Width, frame.Height, BitConverter.ToUInt32(frame.Bgra, 320 * 4 * 100)), Is.EqualTo((320, 200, 0xFF2060A0u)));
    }
}
