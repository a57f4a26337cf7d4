namespace Coproc.Fast.Device.Core;

/// <summary>
/// A save-state stream cannot be restored into this device (native-layout.md §20.8): wrong magic or version, a snapshot
/// of another build of the device or of a device with other memory sizes, a device snapshot restored through the bus
/// façade (or the reverse), or a truncated or corrupt stream. Thrown only by <see cref="Coprocessor.RestoreState(Stream)"/> and
/// <see cref="Bus.CoprocBusDevice.RestoreState"/>; when it is thrown after the header was accepted the device has been
/// reset (§20.3), never left half-restored.
/// </summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class DeviceStateException : Exception
{
    /// <summary>Host: creates the exception with a message saying what did not match.</summary>
    public DeviceStateException(string message) : base(message) { }

    /// <summary>Host: creates the exception with a message and the exception that revealed the problem.</summary>
    public DeviceStateException(string message, Exception inner) : base(message, inner) { }
}
