using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Compositing;

/// <summary>
/// In the advanced model each process has its own GPU address space (seed 001 §4.2); a compositor reads other
/// processes' surfaces (§9.3) by mapping them into its space with <see cref="VaProcess.MapShared"/> — only what the
/// kernel's record of the process names (owned, or shared with it through <see cref="Driver.Kernel.KmdProcess.Own"/>).
/// </summary>
public class SharedSurfaceMappingTests
{
    private const int Bytes = 1 << 20;

    // An advanced-model machine with a game process owning one surface (not resident yet) and a compositor process.
    private static (Machine Machine, VaProcess Game, VaProcess Compositor, GpuAllocation Surface) Desktop()
    {
        var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new() { LocalMemoryBytes = 32UL << 20, SystemMemoryBytes = 64UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
        });
        var game = m.RunListScheduler.CreateProcess();
        var compositor = m.RunListScheduler.CreateProcess();
        return (m, game, compositor, game.AllocateSurface(Bytes));
    }

    [Test]
    public void GivenASurfaceNotSharedWithAProcess_WhenItMapsTheSurface_ThenATypedRefusalNamesBoth_AndNothingIsMapped()
    {
        var (machine, _, compositor, surface) = Desktop();
        using var m = machine;
        int mappings = compositor.Space.MappingCount, allocations = compositor.Allocations.Count;

        var e = Assert.Throws<AllocationNotSharedException>(() => compositor.MapShared(surface.Handle))!;

        Assert.That((e.ProcessId, e.Handle), Is.EqualTo((compositor.Id, surface.Handle)));
        Assert.That(compositor.Space.MappingCount, Is.EqualTo(mappings), "no VA was mapped");
        Assert.That(compositor.Allocations, Has.Count.EqualTo(allocations));
        Assert.That(compositor.Owns(surface.Handle), Is.False);
    }

    [Test]
    public void GivenASharedSurface_WhenTheOwnerDrawsAndTheReaderCopiesThroughItsOwnVa_ThenTheReaderSeesTheOwnersBytes()
    {
        // Given a game surface shared with the compositor's process (the kernel's record of it names the handle) and
        // mapped into the compositor's space while it is not resident (so its mapping starts invalid, like the game's),
        var (machine, game, compositor, surface) = Desktop();
        using var m = machine;
        var rl = m.RunListScheduler;
        m.Kmd.Process(compositor.Id).Own(surface.Handle, Bytes);
        var shared = compositor.MapShared(surface.Handle);
        Assert.That(compositor.MapShared(surface.Handle), Is.EqualTo(shared), "one VA per allocation in a space");
        Assert.That((shared.Handle, shared.Bytes, shared.Managed), Is.EqualTo((surface.Handle, (ulong)Bytes, true)));
        Assert.That(compositor.Owns(surface.Handle), Is.True, "a fault on it is served like a fault on its own");

        // when the game fills it, and the compositor — listing nothing — copies it into its own pinned memory,
        var gameCtx = rl.CreateContext(game);
        var gameBuffer = game.CreateDmaBuffer(32);
        var w = gameBuffer.Writer();
        w.Fill(surface.Va, 0x5A5A1234, Bytes);
        Assert.That(rl.TrySubmit(gameCtx, gameBuffer, w.Written, [], out var drawn), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(drawn.IsComplete, Is.True, gameCtx.ErrorReason);

        var target = compositor.AllocatePinned(Bytes);
        var compositorCtx = rl.CreateContext(compositor);
        var buffer = compositor.CreateDmaBuffer(32);
        var c = buffer.Writer();
        c.Copy(target.Va, shared.Va, Bytes);
        Assert.That(rl.TrySubmit(compositorCtx, buffer, c.Written, [], out var copied), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);

        // then the copy read the game's pixels through the compositor's own VA.
        Assert.That(copied.IsComplete, Is.True, compositorCtx.ErrorReason);
        Assert.That(shared.Va, Is.Not.EqualTo(0UL));
        var bytes = ModelWorkload.Read(m, target.Handle, Bytes);
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(bytes).ToArray().Distinct(), Is.EqualTo(new[] { 0x5A5A1234u }));
    }
}
