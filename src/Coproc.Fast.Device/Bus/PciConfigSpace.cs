using System.Buffers.Binary;
using System.Numerics;

namespace Coproc.Fast.Device.Bus;

/// <summary>
/// The device's PCI configuration space (native-layout.md §20.7): a 256-byte type-0 header with the identity, the
/// command register and four memory BARs — BAR0 registers, BAR1–2 the aperture, BAR3–4 local memory (both 64-bit
/// prefetchable), BAR5 doorbells — sized as PCI requires (power of two; write all ones, read back the size mask), one
/// legacy interrupt pin (INTA) and an MSI capability (one vector, 64-bit address) at <see cref="MsiCapabilityOffset"/>.
/// Reads and writes of 1, 2 or 4 bytes at any offset inside the 256 bytes; anything else reads all ones and is dropped.
/// Never throws.
/// </summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class PciConfigSpace
{
    /// <summary>Host: vendor id 0x4346 ("CF"): not a PCI-SIG-assigned id; a host that needs a real one overrides it in its bus model.</summary>
    public const ushort VendorId = 0x4346;
    /// <summary>Host: device id.</summary>
    public const ushort DeviceId = 0x0001;
    /// <summary>Host: class code 0x03 (display controller), subclass 0x02 (3D controller), programming interface 0.</summary>
    public const uint ClassCode = 0x03_02_00;
    /// <summary>Host: config-space offsets of the header fields this device implements.</summary>
    public const int VendorIdOffset = 0x00, CommandOffset = 0x04, StatusOffset = 0x06, RevisionOffset = 0x08, HeaderTypeOffset = 0x0E,
        Bar0Offset = 0x10, SubsystemOffset = 0x2C, CapabilitiesPointerOffset = 0x34, InterruptLineOffset = 0x3C, InterruptPinOffset = 0x3D;
    /// <summary>Host: STATUS bit 4: the capabilities list at <see cref="CapabilitiesPointerOffset"/> exists.</summary>
    public const ushort StatusCapabilitiesList = 1 << 4;
    /// <summary>Host: offset of the MSI capability (the only capability; its next pointer is 0).</summary>
    public const int MsiCapabilityOffset = 0x50;
    /// <summary>Host: PCI capability id of MSI.</summary>
    public const byte MsiCapabilityId = 0x05;
    /// <summary>Host: MSI capability field offsets, from the start of config space: message control, address low, address high, data.</summary>
    public const int MsiControlOffset = MsiCapabilityOffset + 2, MsiAddressOffset = MsiCapabilityOffset + 4,
        MsiUpperAddressOffset = MsiCapabilityOffset + 8, MsiDataOffset = MsiCapabilityOffset + 12;
    /// <summary>Host: MSI message control bit 0: MSI enable (RW, reset 0).</summary>
    public const ushort MsiControlEnable = 1 << 0;
    /// <summary>Host: MSI message control bit 7: 64-bit message address capable (read-only 1).</summary>
    public const ushort MsiControl64Bit = 1 << 7;
    /// <summary>Host: MSI message control bits 4–6: multiple message enable (RW; the device sends one vector whatever is written).</summary>
    public const ushort MsiControlMultipleMessageEnableMask = 0x70;
    /// <summary>Host: COMMAND bit 1: memory space enable. While clear the façade's BAR accesses read all ones and are dropped.</summary>
    public const ushort CommandMemorySpace = 1 << 1;
    /// <summary>
    /// Host: COMMAND bit 2: bus master enable. MSI messages are sent only while it is set (a PCI function may not write
    /// without it); the device's DMA to guest RAM does not depend on it in this revision.
    /// </summary>
    public const ushort CommandBusMaster = 1 << 2;

    private readonly byte[] _space = new byte[256];
    private readonly ulong[] _barSize = new ulong[6];   // per BAR slot; 0 = unused or the upper half of a 64-bit BAR
    private readonly uint[] _barFlags = new uint[6];

    internal PciConfigSpace(ulong registerBytes, ulong apertureBytes, ulong localBytes, ulong doorbellBytes)
    {
        Define(0, registerBytes, wide: false, prefetchable: false);
        Define(1, apertureBytes, wide: true, prefetchable: true);
        Define(3, localBytes, wide: true, prefetchable: true);
        Define(5, doorbellBytes, wide: false, prefetchable: false);
        Reset();
    }

    /// <summary>Host: the decode size of BAR slot <paramref name="bar"/> (a power of two; 0 for a slot that is not a BAR base).</summary>
    public ulong BarSize(int bar) => (uint)bar < 6 ? _barSize[bar] : 0;

    /// <summary>Host: the base address the host's firmware programmed into BAR <paramref name="bar"/> (64-bit for BAR1 and BAR3).</summary>
    public ulong BarBase(int bar)
    {
        if ((uint)bar >= 6 || _barSize[bar] == 0) return 0;
        ulong low = Dword(Bar0Offset + bar * 4) & ~0xFUL;
        bool wide = (_barFlags[bar] & 0x4) != 0;
        return wide ? low | ((ulong)Dword(Bar0Offset + (bar + 1) * 4) << 32) : low;
    }

    /// <summary>Host: the COMMAND register.</summary>
    public ushort Command => BinaryPrimitives.ReadUInt16LittleEndian(_space.AsSpan(CommandOffset));

    /// <summary>Host: true while COMMAND bit 1 (memory space) is set.</summary>
    public bool MemorySpaceEnabled => (Command & CommandMemorySpace) != 0;

    /// <summary>Host: true while COMMAND bit 2 (bus master) is set.</summary>
    public bool BusMasterEnabled => (Command & CommandBusMaster) != 0;

    /// <summary>Host: true while the MSI capability's enable bit is set: interrupts are messages, not the INTA line.</summary>
    public bool MsiEnabled => (BinaryPrimitives.ReadUInt16LittleEndian(_space.AsSpan(MsiControlOffset)) & MsiControlEnable) != 0;

    /// <summary>Host: the MSI message address (64-bit; bits 0–1 read 0).</summary>
    public ulong MsiAddress => Dword(MsiAddressOffset) | ((ulong)Dword(MsiUpperAddressOffset) << 32);

    /// <summary>Host: the MSI message data (16 bits; the message is a 32-bit write of it, upper half 0).</summary>
    public ushort MsiData => BinaryPrimitives.ReadUInt16LittleEndian(_space.AsSpan(MsiDataOffset));

    /// <summary>Called after a config write changed <see cref="MsiEnabled"/> (the bus façade re-routes the interrupt).</summary>
    internal Action? MsiEnableChanged { get; set; }

    /// <summary>Host: a config read of 1, 2 or 4 bytes (naturally aligned, inside the 256 bytes); all ones otherwise.</summary>
    public uint Read(int offset, int width)
    {
        if (!Valid(offset, width)) return width >= 4 ? uint.MaxValue : (1u << (8 * width)) - 1;
        return width switch
        {
            1 => _space[offset],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(_space.AsSpan(offset)),
            _ => BinaryPrimitives.ReadUInt32LittleEndian(_space.AsSpan(offset)),
        };
    }

    /// <summary>
    /// Host: a config write of 1, 2 or 4 bytes. Writable: COMMAND bits 1–2, the BARs (their size bits read back as zero, the
    /// PCI sizing protocol), INTERRUPT_LINE, and the MSI capability's enable and multiple-message-enable bits, address
    /// (bits 2–63) and data; every other byte is read-only and the write is ignored.
    /// </summary>
    public void Write(int offset, int width, uint value)
    {
        if (!Valid(offset, width)) return;
        bool msi = MsiEnabled;
        for (int i = 0; i < width; i++) WriteByte(offset + i, (byte)(value >> (8 * i)));
        if (MsiEnabled != msi) MsiEnableChanged?.Invoke();
    }

    /// <summary>
    /// Host: which BAR, if any, a host physical address falls in (memory space enabled, BARs programmed): what a host's bus
    /// decoder asks before forwarding an access to <see cref="CoprocBusDevice.ReadBar"/> / <see cref="CoprocBusDevice.WriteBar"/>.
    /// </summary>
    public bool TryDecode(ulong address, out int bar, out ulong offset)
    {
        if (MemorySpaceEnabled)
            for (int b = 0; b < 6; b++)
            {
                if (_barSize[b] == 0) continue;
                ulong baseAddress = BarBase(b);
                if (baseAddress != 0 && address - baseAddress < _barSize[b])
                {
                    bar = b;
                    offset = address - baseAddress;
                    return true;
                }
            }
        bar = -1;
        offset = 0;
        return false;
    }

    /// <summary>
    /// PCI reset values: identity, BARs 0 (flags kept), COMMAND 0, INTERRUPT_LINE 0xFF, INTERRUPT_PIN 1 (INTA), STATUS
    /// capabilities list, the MSI capability disabled with address and data 0.
    /// </summary>
    internal void Reset()
    {
        Array.Clear(_space);
        Span<byte> s = _space;
        BinaryPrimitives.WriteUInt16LittleEndian(s[VendorIdOffset..], VendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(s[(VendorIdOffset + 2)..], DeviceId);
        BinaryPrimitives.WriteUInt32LittleEndian(s[RevisionOffset..], (ClassCode << 8) | Core.DeviceRegisters.RevisionValue);
        s[HeaderTypeOffset] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(s[SubsystemOffset..], VendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(s[(SubsystemOffset + 2)..], DeviceId);
        s[InterruptLineOffset] = 0xFF;
        s[InterruptPinOffset] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[StatusOffset..], StatusCapabilitiesList);
        s[CapabilitiesPointerOffset] = MsiCapabilityOffset;
        s[MsiCapabilityOffset] = MsiCapabilityId;
        s[MsiCapabilityOffset + 1] = 0; // next capability: none
        BinaryPrimitives.WriteUInt16LittleEndian(s[MsiControlOffset..], MsiControl64Bit);
        for (int b = 0; b < 6; b++) BinaryPrimitives.WriteUInt32LittleEndian(s[(Bar0Offset + b * 4)..], _barFlags[b]);
    }

    private void Define(int bar, ulong bytes, bool wide, bool prefetchable)
    {
        _barSize[bar] = Math.Max(16UL, BitOperations.RoundUpToPowerOf2(bytes));
        _barFlags[bar] = (wide ? 0x4u : 0) | (prefetchable ? 0x8u : 0); // bit 0 = 0: memory space
    }

    private static bool Valid(int offset, int width) =>
        width is 1 or 2 or 4 && offset >= 0 && offset + width <= 256 && (offset & (width - 1)) == 0;

    private uint Dword(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_space.AsSpan(offset));

    private void WriteByte(int offset, byte value)
    {
        if (offset == CommandOffset) _space[offset] = (byte)(value & (CommandMemorySpace | CommandBusMaster));
        else if (offset == InterruptLineOffset) _space[offset] = value;
        else if (offset == MsiControlOffset) _space[offset] = (byte)((value & (MsiControlEnable | MsiControlMultipleMessageEnableMask)) | MsiControl64Bit);
        else if (offset == MsiAddressOffset) _space[offset] = (byte)(value & 0xFC); // dword-aligned message address
        else if (offset > MsiAddressOffset && offset < MsiDataOffset + 2) _space[offset] = value; // address 8..63, data
        else if (offset >= Bar0Offset && offset < Bar0Offset + 24)
        {
            int slot = (offset - Bar0Offset) / 4;
            int owner = _barSize[slot] != 0 ? slot : slot > 0 && _barSize[slot - 1] != 0 && (_barFlags[slot - 1] & 0x4) != 0 ? slot - 1 : -1;
            if (owner < 0) return; // not a BAR: reads 0
            _space[offset] = value;
            // Size bits read back as zero (the sizing protocol): mask the whole BAR after every byte write.
            ulong mask = ~(_barSize[owner] - 1);
            bool wide = (_barFlags[owner] & 0x4) != 0;
            ulong v = Dword(Bar0Offset + owner * 4) | (wide ? (ulong)Dword(Bar0Offset + (owner + 1) * 4) << 32 : 0);
            v = (v & mask & ~0xFUL) | _barFlags[owner];
            if (!wide) v &= uint.MaxValue;
            BinaryPrimitives.WriteUInt32LittleEndian(_space.AsSpan(Bar0Offset + owner * 4), (uint)v);
            if (wide) BinaryPrimitives.WriteUInt32LittleEndian(_space.AsSpan(Bar0Offset + (owner + 1) * 4), (uint)(v >> 32));
        }
    }
}
