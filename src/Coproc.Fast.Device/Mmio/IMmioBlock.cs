namespace Coproc.Fast.Device.Mmio;

/// <summary>A range of registers in the register BAR, implemented by one device part.</summary>
internal interface IMmioBlock
{
    /// <summary>Byte offset of the block in the BAR.</summary>
    uint Base { get; }

    /// <summary>Size of the block in bytes.</summary>
    uint Size { get; }

    /// <summary>Reads a register. <paramref name="offset"/> is relative to <see cref="Base"/> and aligned to <paramref name="width"/>.</summary>
    /// <param name="offset">Block-relative byte offset.</param>
    /// <param name="width">4 or 8 bytes.</param>
    /// <param name="value">The value read.</param>
    /// <returns>False when no register lives at the offset.</returns>
    bool TryRead(uint offset, int width, out ulong value);

    /// <summary>Writes a register.</summary>
    /// <param name="offset">Block-relative byte offset.</param>
    /// <param name="width">4 or 8 bytes.</param>
    /// <param name="value">The value (low <paramref name="width"/> bytes significant).</param>
    /// <returns>False when no writable register lives at the offset.</returns>
    bool TryWrite(uint offset, int width, ulong value);
}
