namespace Coproc.Fast.Device.Memory;

/// <summary>
/// A host emulator's notification of device writes to guest RAM (native-layout.md §20.6), for dirty tracking, snapshots,
/// migration and invalidating translated code. Set through <see cref="DeviceMemory.WriteObserver"/>.
/// </summary>
/// <remarks>
/// <see cref="DeviceWrote"/> is called on the thread that runs the device (inside <c>Step</c>, or the register write that
/// caused the write), after the bytes are in guest RAM and before the call that made them returns; each call names one
/// range inside one <see cref="GuestRamRange"/>. Every byte the device writes to system memory is reported at least
/// once; a range may be reported more than once. Local memory is never reported. The observer may read guest RAM; it must
/// not call into the device. An exception it throws is the host's and passes through <c>Step</c> unchanged.
/// <para>Called by: host, which implements it; see docs/embedding.md, "What is public, and who calls it".</para>
/// </remarks>
public interface IGuestRamWriteObserver
{
    /// <summary>Host: the device wrote guest-physical bytes [<paramref name="guestPhysicalAddress"/>, + <paramref name="length"/>).</summary>
    void DeviceWrote(ulong guestPhysicalAddress, ulong length);
}
