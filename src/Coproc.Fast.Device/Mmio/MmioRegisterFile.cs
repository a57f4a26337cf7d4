namespace Coproc.Fast.Device.Mmio;

/// <summary>
/// The register BAR: the only way software controls the device. 32- and 64-bit accesses by byte offset,
/// naturally aligned. Reads of unimplemented registers return all ones and writes to them are dropped, as
/// on a PCI bus; both are counted in <see cref="UnclaimedAccesses"/>. A misaligned access or one outside the BAR is
/// treated the same way (all ones, dropped, counted): whatever a guest does on the bus, nothing is thrown into the host.
/// </summary>
/// <remarks>Called by: host, forwarding the guest's accesses to this window; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class MmioRegisterFile
{
    private readonly IMmioBlock?[] _byPage = new IMmioBlock?[MmioMap.RegisterBarSize >> 8];

    /// <summary>Host: accesses that hit no register.</summary>
    public long UnclaimedAccesses { get; private set; }

    /// <summary>Attaches a block. Blocks must be 256-byte aligned and must not overlap.</summary>
    internal void Attach(IMmioBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if ((block.Base & 0xFF) != 0 || (block.Size & 0xFF) != 0 || block.Size == 0 || block.Base + block.Size > MmioMap.RegisterBarSize)
            throw new ArgumentException($"block at 0x{block.Base:X} size 0x{block.Size:X} is not 256-byte granular inside the BAR", nameof(block));
        for (uint p = block.Base >> 8; p < (block.Base + block.Size) >> 8; p++)
            if (_byPage[p] is not null) throw new ArgumentException($"block at 0x{block.Base:X} overlaps another block", nameof(block));
        for (uint p = block.Base >> 8; p < (block.Base + block.Size) >> 8; p++) _byPage[p] = block;
    }

    /// <summary>Host: reads a 32-bit register.</summary>
    public uint Read32(uint offset) => (uint)Read(offset, 4);

    /// <summary>Host: reads a 64-bit register.</summary>
    public ulong Read64(uint offset) => Read(offset, 8);

    /// <summary>Host: writes a 32-bit register.</summary>
    public void Write32(uint offset, uint value) => Write(offset, 4, value);

    /// <summary>Host: writes a 64-bit register.</summary>
    public void Write64(uint offset, ulong value) => Write(offset, 8, value);

    private ulong Read(uint offset, int width)
    {
        var block = Resolve(offset, width);
        if (block is not null && block.TryRead(offset - block.Base, width, out ulong v))
            return width == 4 ? (uint)v : v;
        UnclaimedAccesses++;
        return width == 4 ? uint.MaxValue : ulong.MaxValue;
    }

    /// <summary>Host: register writes refused because they were made from inside <c>IInterruptLine.SetLevel</c> (native-layout.md §20.4).</summary>
    public long RefusedReentrantWrites { get; private set; }

    /// <summary>Set by the device: true while the host's interrupt-line callback runs.</summary>
    internal Func<bool>? InLineCallback { get; set; }

    private void Write(uint offset, int width, ulong value)
    {
        var block = Resolve(offset, width);
        // Threading contract (native-layout.md §20.4): an interrupt handler called from SetLevel runs in the middle of a
        // device operation; it may read any register and acknowledge or pop interrupts, but any other write is refused
        // (it would change an engine or block halfway through its own update).
        if (block is not null && block is not Interrupts.InterruptController && InLineCallback is { } inCallback && inCallback())
        {
            RefusedReentrantWrites++;
            UnclaimedAccesses++;
            return;
        }
        if (block is null || !block.TryWrite(offset - block.Base, width, width == 4 ? (uint)value : value))
            UnclaimedAccesses++;
    }

    private IMmioBlock? Resolve(uint offset, int width)
    {
        if ((offset & (uint)(width - 1)) != 0 || offset >= MmioMap.RegisterBarSize || offset + (uint)width > MmioMap.RegisterBarSize)
            return null;
        return _byPage[offset >> 8];
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        UnclaimedAccesses = 0;
        RefusedReentrantWrites = 0;
    }
}
