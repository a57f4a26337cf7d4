namespace Coproc.Fast.Driver.VidSch.Sync;

/// <summary>Why a synchronization-object thunk was refused (seed 001 §10.2). Nothing was changed when one is thrown.</summary>
public enum SyncObjectError
{
    /// <summary>The handle names no live object (never created, or deleted).</summary>
    UnknownHandle = 1,
    /// <summary>The calling process may not use the object (or the context), and was not granted access.</summary>
    WrongProcess,
    /// <summary>Delete of an object that contexts wait on, that a context owns, or that stream operations still name.</summary>
    InUse,
    /// <summary>A bad argument: unknown kind, semaphore initial count above its maximum, empty or duplicate wait set.</summary>
    InvalidArgument,
    /// <summary>The operation does not apply to the object's kind (e.g. resetting a mutex).</summary>
    WrongKind,
}

/// <summary>A synchronization-object thunk refused its arguments; the scheduler and every object are unchanged.</summary>
public sealed class SyncObjectException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public SyncObjectException(SyncObjectError error, uint handle, string message)
        : base($"{error} (handle {handle}): {message}")
    {
        Error = error;
        Handle = handle;
    }

    /// <summary>Why.</summary>
    public SyncObjectError Error { get; }

    /// <summary>The handle concerned (0 none).</summary>
    public uint Handle { get; }
}

/// <summary>
/// A misuse only detectable when the coprocessor reaches a signal (seed 001 §11 "Signal sync"): the operation is
/// dropped, the object is unchanged, and only the signalling context records the fault.
/// </summary>
public enum SyncFault : byte
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>A mutex released by a context that does not own it.</summary>
    MutexNotOwned,
    /// <summary>A semaphore released past its maximum count.</summary>
    SemaphoreOverflow,
}
