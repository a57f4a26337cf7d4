using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// A part of a scenario that the machine refuses to set up (capacity: contexts in system memory, an allocation that
/// can never be resident, …), with the JSON path of that part. <see cref="VidSchScenarioRunner"/> turns it into a
/// <see cref="ScenarioError"/>, so <c>coproc run --validate</c> and <c>coproc run</c> refuse the same files the same way.
/// </summary>
internal sealed class ScenarioSetupException(string path, string message, Exception inner) : Exception(message, inner)
{
    /// <summary>JSON path of the part that cannot be set up.</summary>
    public string Path { get; } = path;

    /// <summary>An allocation spec (index <paramref name="spec"/> of its process) that VidMm refused.</summary>
    public static ScenarioSetupException Allocation(ScenarioProcess process, int spec, VidMmException e)
    {
        var a = process.Spec.Allocations[spec];
        string hint = e.Error switch
        {
            VidMmError.RequestTooLarge => " (an allocation must fit in the memory it is placed in: raise options.local_memory_bytes or make it smaller)",
            VidMmError.OutOfLocalMemory or VidMmError.OutOfSystemMemory or VidMmError.TooFragmented =>
                $" ({a.Count} × {a.Bytes:N0} bytes does not fit next to what the scenario allocated before it: raise options.local_memory_bytes / system_memory_bytes or allocate less)",
            _ => "",
        };
        // ScenarioProcess ids are 1-based in scenario order (ScenarioExecution).
        return new ScenarioSetupException($"$.processes[{process.Id - 1}].allocations[{spec}]", $"allocation '{ScenarioBinder.Clip(a.Name)}' cannot be made: {e.Message}{hint}", e);
    }

    /// <summary>The JSON path of every context, in <see cref="Scenario.Contexts"/> order.</summary>
    public static string[] ContextPaths(Scenario scenario)
    {
        var paths = new List<string>();
        for (int p = 0; p < scenario.Processes.Count; p++)
            for (int c = 0; c < scenario.Processes[p].Contexts.Count; c++)
                paths.Add($"$.processes[{p}].contexts[{c}]");
        return [.. paths];
    }

    /// <summary>Whether <paramref name="e"/>, thrown while setting a context up, is the machine refusing the scenario (not a bug).</summary>
    public static bool IsRefusal(Exception e) =>
        e is VidMmException or ArgumentException or InvalidOperationException or OutOfMemoryException or CommandBufferRejectedException
            or DoorbellsExhaustedException or UserQueueRegistrationException;

    /// <summary>What to change, for the refusals a scenario author can fix.</summary>
    public static string Hint(Exception e, int index, int count) => e is VidMmException { Error: VidMmError.OutOfSystemMemory }
        ? $" (system memory ran out after {index} of {count} contexts: each context needs system memory for its ring, save area and DMA buffers; raise options.system_memory_bytes or use fewer contexts)"
        : e is VidMmException { Error: VidMmError.OutOfLocalMemory }
            ? $" (local memory ran out after {index} of {count} contexts; raise options.local_memory_bytes or allocate less)"
            : "";
}
