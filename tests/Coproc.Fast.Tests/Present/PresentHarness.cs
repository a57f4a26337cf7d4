using System.Runtime.InteropServices;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Present;

/// <summary>A deterministic machine with a vsync, a display mode and a compositor-like context with a flip chain.</summary>
internal sealed class PresentHarness : IDisposable
{
    public const uint Width = 64, Height = 32;
    public const uint Period = 1_000_000;

    public PresentHarness(int bufferCount, ulong localBytes = 16UL << 20, int surfaces = 3, MachineRunMode mode = MachineRunMode.Deterministic)
    {
        Machine = new Machine(new MachineOptions
        {
            Device = new CoprocessorOptions { LocalMemoryBytes = localBytes, SystemMemoryBytes = 16UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = Period },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000 },
            Mode = mode,
        });
        Display.SetMode(Width, Height);
        Surfaces = Enumerable.Range(0, surfaces).Select(_ => Display.CreatePrimarySurface(1)).ToArray();
        for (int i = 0; i < surfaces; i++) Fill(Surfaces[i], 0xFF000000u | (uint)(i + 1) * 0x111111u);
        Display.Show(Surfaces[0]);
        Context = Machine.CreateContext(1, priority: 5);
        Chain = Display.CreateFlipChain(Context, bufferCount);
        Display.FlipCompleted = n => { lock (Notices) Notices.Add(n); };
        Builder = new CommandBufferBuilder(Machine.Kmd.SinkFor(1, Context));
    }

    public Machine Machine { get; }
    public PresentManager Display => Machine.Display;
    public AllocationHandle[] Surfaces { get; }
    public VidSchContext Context { get; }
    public FlipChain Chain { get; }
    public CommandBufferBuilder Builder { get; }
    public List<FlipNotice> Notices { get; } = new();

    public ulong Current => Machine.Device.Mmio.Read64(MmioMap.DisplayBase + 0x00);
    public ulong Latched => Machine.Device.Mmio.Read64(MmioMap.DisplayBase + 0x08);
    public ulong Pa(AllocationHandle h) => Machine.VidMm.PhysicalAddressOf(h, 0).Encoded;

    public void Fill(AllocationHandle h, uint pixel) =>
        MemoryMarshal.Cast<byte, uint>(Machine.VidMm.Memory.GetSpan(Machine.VidMm.PhysicalAddressOf(h, 0), (int)(Width * Height * 4))).Fill(pixel);

    public uint Pixel(AllocationHandle h, int index) =>
        MemoryMarshal.Cast<byte, uint>(Machine.VidMm.Memory.GetSpan(Machine.VidMm.PhysicalAddressOf(h, 0), (int)(Width * Height * 4)))[index];

    public long Flip(int surface, FlipKind kind, bool wait = false)
    {
        Assert.That(Display.TryFlip(1, Context, Surfaces[surface], kind, out long id, wait), Is.True, "flip queued");
        return id;
    }

    /// <summary>A command buffer filling <paramref name="surface"/> with <paramref name="pixel"/> (the app rendering a frame).</summary>
    public long Render(int surface, uint pixel)
    {
        Builder.Fill(Surfaces[surface], 0, pixel, Width * Height * 4);
        Builder.Flush();
        return Context.Submitted;
    }

    public void Dispose() => Machine.Dispose();
}
