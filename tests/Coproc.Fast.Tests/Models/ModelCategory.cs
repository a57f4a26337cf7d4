namespace Coproc.Fast.Tests.Models;

/// <summary>
/// NUnit categories that name the scheduling model a fixture's tests run in (tests/Coproc.Fast.Tests/Advanced/BEHAVIOURS.md,
/// "Models"): run one model's behaviour tests with <c>dotnet test --filter TestCategory=model:advanced</c>. Tests that run in
/// every model are parameterised by <c>SchedulingModel</c> instead (the model is in each test case's name; a case may carry
/// its model's category too, <c>[TestCase(SchedulingModel.Hardware, Category = ModelCategory.Hardware)]</c>).
/// </summary>
internal static class ModelCategory
{
    /// <summary>Seed 000 / seed 001 §3: the kernel path, direct switching (behaviours 1–11).</summary>
    public const string Basic = "model:basic";

    /// <summary>Seed 001 §4–§8: per-process GPU VA, demand faulting, run lists (behaviours 12–30).</summary>
    public const string Advanced = "model:advanced";

    /// <summary>Seed 003 as the whole model: application contexts are ring-3 user queues under the device's scheduling core.</summary>
    public const string Hardware = "model:hardware";
}
