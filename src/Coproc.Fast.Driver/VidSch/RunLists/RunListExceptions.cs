using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>The device refused a run-list submission (RL_SUBMIT read-back other than Ok).</summary>
public sealed class RunListSubmitException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RunListSubmitException(EngineKind engine, RunListSubmitStatus status)
        : base(status == RunListSubmitStatus.PendingBusy
            ? $"{engine}: a pending run list is outstanding; submit the next one after its confirmation interrupt (seed 001 §6.2)"
            : $"{engine}: run list refused by the device ({status})")
    {
        Engine = engine;
        Status = status;
    }

    /// <summary>The engine.</summary>
    public EngineKind Engine { get; }

    /// <summary>The device's (or, for <see cref="RunListSubmitStatus.PendingBusy"/>, the submitter's) verdict.</summary>
    public RunListSubmitStatus Status { get; }
}

/// <summary>The device refused a run-list configuration (RL_CONFIG_STATUS other than Ok).</summary>
public sealed class RunListConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RunListConfigurationException(RunListConfigStatus status, string what)
        : base($"run-list configuration refused ({status}): {what}") => Status = status;

    /// <summary>The device's verdict.</summary>
    public RunListConfigStatus Status { get; }
}
