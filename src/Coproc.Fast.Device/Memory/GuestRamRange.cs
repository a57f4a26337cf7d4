namespace Coproc.Fast.Device.Memory;

/// <summary>
/// One range of a host emulator's guest RAM as the device's system memory (native-layout.md §1, §20.6): the bytes of
/// <see cref="Memory"/> are guest-physical addresses [<see cref="GuestPhysicalAddress"/>,
/// <see cref="GuestPhysicalAddress"/> + <see cref="Memory"/>.Length). A system-memory physical address (location 1) is a
/// guest-physical address; addresses in no range are holes.
/// </summary>
/// <param name="GuestPhysicalAddress">Guest-physical address of the range's first byte: 4 KiB aligned, the range below 2^48.</param>
/// <param name="Memory">The host's memory behind the range (<see cref="NativeRegion.Wrap"/>, 4 KiB aligned, kept alive by the host).</param>
/// <remarks>Called by: host, to supply guest RAM; see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly record struct GuestRamRange(ulong GuestPhysicalAddress, NativeRegion Memory)
{
    /// <summary>Host: one past the range's last guest-physical address.</summary>
    public ulong End => GuestPhysicalAddress + Memory.Length;
}
