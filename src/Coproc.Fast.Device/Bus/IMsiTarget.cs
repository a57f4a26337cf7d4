namespace Coproc.Fast.Device.Bus;

/// <summary>
/// Where the device's MSI messages go (native-layout.md §20.7.1): the host's interrupt controller model (e.g. a LAPIC
/// window). Set through <see cref="CoprocBusDevice.MsiTarget"/>.
/// </summary>
/// <remarks>
/// A message is the 32-bit memory write a PCI function makes for MSI: <see cref="WriteMessage"/> gets the programmed
/// message address and data (upper 16 bits 0). It is called synchronously, exactly where the INTA line would have been
/// raised (inside <c>Step</c>, a register write, <c>RestoreState</c>, or the config write that enabled MSI), under the
/// same re-entrancy rules as <see cref="Interrupts.IInterruptLine.SetLevel"/> (§20.4); an exception it throws is the host's
/// and passes through unchanged.
/// <para>Called by: host, which implements it; see docs/embedding.md, "What is public, and who calls it".</para>
/// </remarks>
public interface IMsiTarget
{
    /// <summary>Host: the device writes <paramref name="data"/> to guest-physical <paramref name="address"/>.</summary>
    void WriteMessage(ulong address, uint data);
}
