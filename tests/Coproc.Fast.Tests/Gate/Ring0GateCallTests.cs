using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Tests.Gate;

/// <summary>Review fixes: disposing a copy of a ring-0 call must not hand its argument buffer back twice.</summary>
public class Ring0GateCallTests
{
    [Test]
    public void DisposingACopyOfACall_DoesNotLetANestedEntryOverwriteTheOuterCallsArguments()
    {
        // Given a call and a copy of it (a ref struct can be copied), both disposed.
        var gate = new Ring0Gate();
        var first = gate.Enter(1, [1, 2, 3, 4]);
        var copy = first;
        first.Dispose();
        copy.Dispose();

        // When an outer call is entered and, while it is held, a nested one with other arguments.
        using var outer = gate.Enter(1, [10, 20, 30, 40]);
        using var nested = gate.Enter(1, [99, 99, 99, 99]);

        // Then the outer call still sees its own kernel copy.
        Assert.That(outer.Arguments.ToArray(), Is.EqualTo(new byte[] { 10, 20, 30, 40 }));
        Assert.That(nested.Arguments.ToArray(), Is.EqualTo(new byte[] { 99, 99, 99, 99 }));
    }

    [Test]
    public void DisposingAStaleCopy_AfterTheBufferWasLentAgain_DoesNotTakeItFromTheNewCall()
    {
        // Given a disposed call whose buffer now serves a new call, and a stale copy of the first.
        var gate = new Ring0Gate();
        var first = gate.Enter(1, [1, 2, 3, 4]);
        var stale = first;
        first.Dispose();
        using var outer = gate.Enter(1, [10, 20, 30, 40]);

        // When the stale copy is disposed and a nested entry is made.
        stale.Dispose();
        using var nested = gate.Enter(1, [99, 99, 99, 99]);

        // Then the new call's kernel copy is untouched.
        Assert.That(outer.Arguments.ToArray(), Is.EqualTo(new byte[] { 10, 20, 30, 40 }));
    }
}
