namespace Coproc.Fast.Driver;

/// <summary>
/// A machine save-state cannot be written or read (docs/embedding.md, "Machine save-state"): the machine runs in
/// threaded mode, is disposed, is asked from inside its own step, or holds state the save-state does not cover (an
/// object of a type it cannot rebuild, such as a caller-supplied residency manager or a native pointer outside device
/// memory); or the stream is not a machine save-state of this build, or is truncated or corrupt. A refused save has
/// written nothing to the stream; a refused restore has built no machine.
/// </summary>
public sealed class MachineStateException : Exception
{
    /// <summary>Creates the exception with a message saying what is not covered or did not match.</summary>
    public MachineStateException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the exception that revealed the problem.</summary>
    public MachineStateException(string message, Exception inner) : base(message, inner) { }
}
