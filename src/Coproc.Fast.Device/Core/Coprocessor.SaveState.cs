using System.Buffers.Binary;
using System.Text;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Core;

public sealed partial class Coprocessor
{
    /// <summary>Host: "CPSS" little-endian: the first four bytes of a save-state stream (native-layout.md §20.8).</summary>
    public const uint SaveStateMagic = 0x5353_5043;

    /// <summary>Host: the save-state format version this build writes and reads (native-layout.md §20.8).</summary>
    public const uint SaveStateVersion = 1;

    /// <summary>Host: header flag: the stream holds system memory (block SMEM).</summary>
    public const uint SaveStateFlagSystemMemory = 1;

    /// <summary>Host: header flag: the stream was written by <see cref="Bus.CoprocBusDevice.SaveState"/> (block BUSF follows DEVS).</summary>
    public const uint SaveStateFlagBusFacade = 2;

    private const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Host: writes the whole device state to <paramref name="stream"/> (native-layout.md §20.8): registers and CYCLE, every
    /// engine's loaded context (its private copy of the save area, work state, ring binding), the TLBs, latched and
    /// pending run lists, the scheduling core's slots, doorbells and their vector, the display latch, the interrupt
    /// controller's queue and line level, then local memory and, with <paramref name="includeSystemMemory"/>, system
    /// memory (a host that saves its guest RAM itself leaves it out). Call it between steps, never from inside
    /// <see cref="Step"/> or an <see cref="Interrupts.IInterruptLine.SetLevel"/> callback. The device is not changed.
    /// </summary>
    public void SaveState(Stream stream, bool includeSystemMemory = false) => SaveState(stream, includeSystemMemory, null);

    /// <summary>
    /// Host: replaces the whole device state with a stream written by <see cref="SaveState(Stream, bool)"/> of the same build
    /// of this library, for a device with the same local, system and aperture sizes (native-layout.md §20.8). Continuing
    /// gives the same bytes, cycles and interrupts as the device that was saved. Without a system-memory block, system
    /// memory is left as it is: the host restores its guest RAM itself. The objects this device handed out stay valid;
    /// the interrupt line gets one <see cref="Interrupts.IInterruptLine.SetLevel"/> call if the restored level differs
    /// from the current one. Call it between steps.
    /// </summary>
    /// <exception cref="DeviceStateException">The stream is not a save-state of this build and size, or is truncated or
    /// corrupt; if the header was accepted the device has been reset (§20.3).</exception>
    public void RestoreState(Stream stream) => RestoreState(stream, null);

    internal void SaveState(Stream stream, bool includeSystemMemory, object? facade)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(stream);
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(SaveStateMagic);
        w.Write(SaveStateVersion);
        w.Write((includeSystemMemory ? SaveStateFlagSystemMemory : 0) | (facade is null ? 0 : SaveStateFlagBusFacade));
        w.Write(typeof(Coprocessor).Module.ModuleVersionId.ToByteArray());
        w.Write(Options.LocalMemoryBytes);
        w.Write(Options.SystemMemoryBytes);
        w.Write(Options.ApertureBytes);
        WriteGraphBlock(w, "DEVS", this, StateContext());
        if (facade is not null) WriteGraphBlock(w, "BUSF", facade, StateContext(facade));
        WriteMemoryBlock(w, "LMEM", [Memory.Local]);
        if (includeSystemMemory) WriteMemoryBlock(w, "SMEM", SystemRegions());
        WriteBlockHeader(w, "END!", 0);
    }

    internal void RestoreState(Stream stream, object? facade)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(stream);
        using var r = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        uint flags;
        try
        {
            if (r.ReadUInt32() != SaveStateMagic) throw new DeviceStateException("not a device save-state (magic is not \"CPSS\")");
            uint version = r.ReadUInt32();
            if (version != SaveStateVersion) throw new DeviceStateException($"save-state version {version}; this build reads {SaveStateVersion}");
            flags = r.ReadUInt32();
            var build = new Guid(r.ReadBytes(16));
            if (build != typeof(Coprocessor).Module.ModuleVersionId)
                throw new DeviceStateException($"the save-state was written by another build of Coproc.Fast.Device (module {build})");
            ulong local = r.ReadUInt64(), system = r.ReadUInt64(), aperture = r.ReadUInt64();
            if (local != Options.LocalMemoryBytes || system != Options.SystemMemoryBytes || aperture != Options.ApertureBytes)
                throw new DeviceStateException(
                    $"the save-state is of a device with local 0x{local:X}, system 0x{system:X}, aperture 0x{aperture:X} bytes; this one has " +
                    $"0x{Options.LocalMemoryBytes:X}, 0x{Options.SystemMemoryBytes:X}, 0x{Options.ApertureBytes:X}");
            if (((flags & SaveStateFlagBusFacade) != 0) != (facade is not null))
                throw new DeviceStateException(facade is null
                    ? "a bus-façade save-state: restore it with CoprocBusDevice.RestoreState"
                    : "a device save-state without the bus façade: restore it with Coprocessor.RestoreState");
        }
        catch (EndOfStreamException e) { throw new DeviceStateException("the save-state header is truncated", e); }

        bool levelBefore = Interrupts.IsAsserted;
        try
        {
            ReadGraphBlock(r, "DEVS", this, StateContext());
            if (facade is not null) ReadGraphBlock(r, "BUSF", facade, StateContext(facade));
            ReadMemoryBlock(r, "LMEM", [Memory.Local]);
            if ((flags & SaveStateFlagSystemMemory) != 0) ReadMemoryBlock(r, "SMEM", SystemRegions());
            if (ReadBlockHeader(r) is not ("END!", 0)) throw new InvalidDataException("no END! block");
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or NotSupportedException or ArgumentException
                                   or InvalidCastException or DeviceStateException)
        {
            Reset();
            throw e as DeviceStateException ?? new DeviceStateException($"the save-state is corrupt: {e.Message}", e);
        }
        bool levelAfter = Interrupts.IsAsserted;
        if (levelAfter != levelBefore) Interrupts.Line?.SetLevel(levelAfter);
    }

    // SMEM holds the guest-RAM ranges' bytes one after another, in guest-physical order (native-layout.md §20.8).
    private NativeRegion[] SystemRegions()
    {
        var ranges = Memory.SystemRanges;
        var regions = new NativeRegion[ranges.Length];
        for (int i = 0; i < regions.Length; i++) regions[i] = ranges[i].Memory;
        return regions;
    }

    private StateGraph.Context StateContext(object? facade = null)
    {
        var known = new List<object> { Memory, Memory.Local, Options, this };
        known.AddRange(SystemRegions());
        if (facade is not null) known.Add(facade);
        return new(Memory, known.ToArray());
    }

    private static void WriteGraphBlock(BinaryWriter w, string tag, object root, StateGraph.Context context)
    {
        using var payload = new MemoryStream();
        using (var pw = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true)) new StateGraph.Writer(pw, context).WriteRoot(root);
        WriteBlockHeader(w, tag, (ulong)payload.Length);
        w.Flush();
        payload.Position = 0;
        payload.CopyTo(w.BaseStream);
    }

    private static void ReadGraphBlock(BinaryReader r, string tag, object root, StateGraph.Context context)
    {
        var (t, length) = ReadBlockHeader(r);
        if (t != tag) throw new InvalidDataException($"block {t} where {tag} was expected");
        long start = r.BaseStream.CanSeek ? r.BaseStream.Position : -1;
        new StateGraph.Reader(r, context).ReadRoot(root);
        if (start >= 0 && (ulong)(r.BaseStream.Position - start) != length)
            throw new InvalidDataException($"block {tag} is 0x{length:X} bytes but 0x{r.BaseStream.Position - start:X} were read");
    }

    private static void WriteMemoryBlock(BinaryWriter w, string tag, NativeRegion[] regions)
    {
        WriteBlockHeader(w, tag, TotalLength(regions));
        w.Flush();
        foreach (var region in regions)
            for (ulong o = 0; o < region.Length; o += ChunkBytes)
                w.BaseStream.Write(region.Slice(o, (int)Math.Min(ChunkBytes, region.Length - o)));
    }

    private static void ReadMemoryBlock(BinaryReader r, string tag, NativeRegion[] regions)
    {
        var (t, length) = ReadBlockHeader(r);
        ulong expected = TotalLength(regions);
        if (t != tag || length != expected) throw new InvalidDataException($"block {t} of 0x{length:X} bytes where {tag} of 0x{expected:X} was expected");
        foreach (var region in regions)
            for (ulong o = 0; o < region.Length; o += ChunkBytes)
                r.BaseStream.ReadExactly(region.Slice(o, (int)Math.Min(ChunkBytes, region.Length - o)));
    }

    private static ulong TotalLength(NativeRegion[] regions)
    {
        ulong n = 0;
        foreach (var region in regions) n += region.Length;
        return n;
    }

    private static void WriteBlockHeader(BinaryWriter w, string tag, ulong length)
    {
        w.Write(BinaryPrimitives.ReadUInt32LittleEndian(Encoding.ASCII.GetBytes(tag)));
        w.Write(length);
    }

    private static (string Tag, ulong Length) ReadBlockHeader(BinaryReader r)
    {
        Span<byte> tag = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tag, r.ReadUInt32());
        return (Encoding.ASCII.GetString(tag), r.ReadUInt64());
    }
}
