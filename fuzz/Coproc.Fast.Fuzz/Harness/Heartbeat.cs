namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// The watchdog's view of a campaign: the case being run and a beat per step. A hang — a deterministic run that
/// never returns, a threaded machine that never goes idle — stops the beats; the watchdog then prints what was
/// running and ends the process (a hung thread cannot be unwound in-process).
/// </summary>
internal sealed class Heartbeat
{
    private long _beats;
    private volatile string _what = "starting";

    public long Beats => Interlocked.Read(ref _beats);
    public string What => _what;

    public void Beat(string what)
    {
        _what = what;
        Interlocked.Increment(ref _beats);
    }

    public void Beat() => Interlocked.Increment(ref _beats);
}

/// <summary>A thread that ends the process with exit code 3 when a <see cref="Heartbeat"/> stops for too long.</summary>
internal sealed class Watchdog : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;

    public Watchdog(string campaign, ulong seed, Heartbeat heartbeat, TimeSpan hangAfter)
    {
        _thread = new Thread(() =>
        {
            long last = heartbeat.Beats;
            var since = DateTime.UtcNow;
            while (!_stop.Token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(250)))
            {
                long now = heartbeat.Beats;
                if (now != last) { last = now; since = DateTime.UtcNow; continue; }
                if (DateTime.UtcNow - since < hangAfter) continue;
                Console.Out.Flush();
                Console.Error.WriteLine($"FAIL {campaign}: HANG — no progress for {hangAfter.TotalSeconds:0} s");
                Console.Error.WriteLine($"  seed {seed}, {heartbeat.What}");
                Console.Error.WriteLine($"  replay: dotnet run --project fuzz/Coproc.Fast.Fuzz -c Release -- campaign {campaign} --seed {seed}");
                Console.Error.Flush();
                Environment.Exit(3);
            }
        }) { IsBackground = true, Name = "fuzz watchdog" };
        _thread.Start();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }
}
