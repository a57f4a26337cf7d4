using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// What a compositor's frame draws (seed 001 §9.3: the compositor composes other applications' surfaces into its
/// back buffer, then flips it): a desktop background, one window per other application — a real COPY of the
/// game's last finished render target and of the decoder's output surface, progress for a compute job, a greyed
/// "not responding" window for a faulted application — drop shadows blended over the background, and a taskbar
/// whose lamps show the frame number in binary. Everything is DRAW_RECTS packets (native-layout.md §8A.2), so the
/// displayed frame is what the device drew.
/// </summary>
/// <remarks>
/// <para>
/// Design: <see cref="Plan"/> is the one layout — the DRAW_RECTS of a frame as primitives plus, per packet, the source
/// allocation it copies from. Only how those become packets differs by submission path: the kernel path's UMD names
/// allocations with offsets (<see cref="Ring0ContextDriver"/>), the advanced model's user-built buffer names VAs in the
/// compositor's own address space, where the sources are mapped as shared allocations (<see cref="VaContextDriver"/>).
/// </para>
/// <para>
/// Simplified: windows are placed by a fixed layout (one large window on the left, the others stacked on the right)
/// and are not scaled (DRAW_RECTS copies 1:1), so a window shows the part of its source that fits. The compositor
/// reads a source surface without waiting for it (no cross-process sync object), as a compositor that shows the last
/// frame it was told about would; the emulated processes only tell it about finished frames.
/// </para>
/// </remarks>
internal sealed class DesktopComposer
{
    private const uint Background = 0xFF1B4F72, WallpaperA = 0x5040A0C0, WallpaperB = 0x3050C8E8, Shadow = 0x60000000;
    private const uint TitleBar = 0xFF2C3E50, Taskbar = 0xFF101820, LampOn = 0xFF3EE0FF, LampOff = 0xFF2A3440, NotResponding = 0x90FFFFFF;
    private const int CounterBits = 12;
    private const int DesktopRects = 64; // the first packet's primitives at most (the rest are not drawn)
    private const int WindowRects = 2;   // a window's packet: letterbox and copy
    private readonly List<Window> _windows = [];
    private RectPrimitive[] _rects = new RectPrimitive[DesktopRects];
    private ComposedDraw[] _draws = new ComposedDraw[1];

    /// <summary>What a window shows.</summary>
    private enum WindowKind { Surface, Progress, Faulted }

    private sealed record Window(WindowKind Kind, uint Accent, Func<(AllocationHandle Handle, Surface Surface)>? Source, Func<double>? Progress, Func<bool>? Failed);

    /// <summary>Windows added so far.</summary>
    public int WindowCount => _windows.Count;

    /// <summary>Dwords the packets of one <see cref="Plan"/> take at most.</summary>
    public int MaxDwords => MaxDwordsFor(_windows.Count);

    /// <summary>Dwords the packets of one <see cref="Plan"/> take at most with <paramref name="windows"/> windows.</summary>
    public static int MaxDwordsFor(int windows) => DrawRectsPacket.SizeInDwords(DesktopRects) + windows * DrawRectsPacket.SizeInDwords(WindowRects);

    /// <summary>
    /// A window showing another process's surface, given as its allocation and the surface at an offset inside it
    /// (shared with the compositor's process: the kernel's record of that process must name the handle).
    /// </summary>
    public void AddSurfaceWindow(uint accent, Func<(AllocationHandle Handle, Surface Surface)> source) =>
        _windows.Add(new Window(WindowKind.Surface, accent, source, null, null));

    /// <summary>A window with a progress bar (0…1), e.g. a compute job's completed buffers.</summary>
    public void AddProgressWindow(uint accent, Func<double> progress) => _windows.Add(new Window(WindowKind.Progress, accent, null, progress, null));

    /// <summary>A window that turns grey ("not responding") once <paramref name="failed"/> says its application faulted.</summary>
    public void AddFaultableWindow(uint accent, Func<bool> failed) => _windows.Add(new Window(WindowKind.Faulted, accent, null, null, failed));

    /// <summary>
    /// Frame <paramref name="frame"/> on a back buffer of geometry <paramref name="g"/>: its DRAW_RECTS packets in order,
    /// each with its primitives (<see cref="Primitives"/>) and the source it copies from (none for the first, the
    /// desktop). Valid until the next call.
    /// </summary>
    public ReadOnlySpan<ComposedDraw> Plan(SurfaceGeometry g, int frame)
    {
        int capacity = DesktopRects + _windows.Count * WindowRects;
        if (_rects.Length < capacity) _rects = new RectPrimitive[capacity];
        if (_draws.Length < _windows.Count + 1) _draws = new ComposedDraw[_windows.Count + 1];
        int n = 0;
        uint w = g.Width, h = g.Height;
        uint bar = Math.Max(2, h / 22);
        Span<(int X, int Y, uint W, uint H)> clients = stackalloc (int, int, uint, uint)[_windows.Count];
        for (int i = 0; i < _windows.Count; i++) clients[i] = Layout(i, w, h - bar, bar);
        int titleH = (int)Math.Max(1, bar * 2 / 3);
        // The desktop: a background where the large window does not cover it (a compositor skips hidden pixels —
        // every fill costs device cycles) and two translucent wallpaper shapes (BlendColor: the device reads and blends).
        if (_windows.Count > 0 && clients[0].W > 0 && clients[0].H > 0)
        {
            var c = clients[0];
            int top = c.Y - titleH, bottom = c.Y + (int)c.H;
            Add(ref n, RectPrimitive.Fill(0, 0, w, (uint)top, Background));
            Add(ref n, RectPrimitive.Fill(0, top, (uint)c.X, (uint)(bottom - top), Background));
            Add(ref n, RectPrimitive.Fill(c.X + (int)c.W, top, w - (uint)(c.X + (int)c.W), (uint)(bottom - top), Background));
            Add(ref n, RectPrimitive.Fill(0, bottom, w, Sub(h - bar, (uint)bottom), Background));
        }
        else Add(ref n, RectPrimitive.Fill(0, 0, w, h, Background));
        Add(ref n, RectPrimitive.BlendColor((int)(w / 2), 0, w / 2, h / 4, WallpaperA));
        Add(ref n, RectPrimitive.BlendColor((int)(w / 10), (int)(h * 3 / 4), w * 3 / 5, h / 8, WallpaperB));
        for (int i = 0; i < _windows.Count; i++)
        {
            var c = clients[i];
            if (c.W == 0 || c.H == 0) continue;
            // A drop shadow: two blended strips along the right and bottom edges.
            Add(ref n, RectPrimitive.BlendColor(c.X + (int)c.W, c.Y - titleH + 8, 8, c.H + (uint)titleH, Shadow));
            Add(ref n, RectPrimitive.BlendColor(c.X + 8, c.Y + (int)c.H, c.W - 8, 8, Shadow));
            Add(ref n, RectPrimitive.Fill(c.X, c.Y - titleH, c.W, (uint)titleH, TitleBar));
            Add(ref n, RectPrimitive.Fill(c.X + 4, c.Y - titleH + 3, (uint)Math.Max(1, titleH - 6), (uint)Math.Max(1, titleH - 6), _windows[i].Accent));
            var win = _windows[i];
            if (win.Kind == WindowKind.Progress)
            {
                double p = Math.Clamp(win.Progress!(), 0, 1);
                Add(ref n, RectPrimitive.Fill(c.X, c.Y, c.W, c.H, 0xFFECF0F1));
                uint track = Math.Max(1, c.W - 16);
                Add(ref n, RectPrimitive.Fill(c.X + 8, c.Y + (int)(c.H / 2) - 8, track, 16, 0xFFBDC3C7));
                Add(ref n, RectPrimitive.Fill(c.X + 8, c.Y + (int)(c.H / 2) - 8, (uint)Math.Max(1, track * p), 16, win.Accent));
            }
            else if (win.Kind == WindowKind.Faulted)
            {
                Add(ref n, RectPrimitive.Fill(c.X, c.Y, c.W, c.H, win.Accent));
                if (win.Failed!())
                {
                    // Not responding: washed out, with a red warning stripe.
                    Add(ref n, RectPrimitive.BlendColor(c.X, c.Y, c.W, c.H, NotResponding));
                    Add(ref n, RectPrimitive.Fill(c.X, c.Y + (int)(c.H / 2) - 6, c.W, 12, 0xFFC0392B));
                }
            }
        }
        // The taskbar: a button per window, and the frame number in binary lamps (what a frame counter bar shows).
        Add(ref n, RectPrimitive.Fill(0, (int)(h - bar), w, bar, Taskbar));
        uint lamp = Math.Max(1, bar / 2), step = lamp + Math.Max(1, lamp / 2);
        for (int i = 0; i < _windows.Count && (i + 1) * step * 2 < w / 2; i++)
            Add(ref n, RectPrimitive.Fill((int)(step + i * step * 2), (int)(h - bar + bar / 4), lamp * 2, lamp, _windows[i].Accent));
        for (int b = 0; b < CounterBits && (b + 1) * step < w / 2; b++)
        {
            bool on = ((frame >> (CounterBits - 1 - b)) & 1) != 0;
            Add(ref n, RectPrimitive.Fill((int)(w - (CounterBits - b) * step), (int)(h - bar + bar / 4), lamp, lamp, on ? LampOn : LampOff));
        }
        int draws = 0;
        _draws[draws++] = new ComposedDraw(0, n, default, default);

        // Window contents: one DRAW_RECTS per source surface (a packet names one source), copied 1:1 and clipped.
        for (int i = 0; i < _windows.Count; i++)
        {
            var c = clients[i];
            if (_windows[i].Kind != WindowKind.Surface || c.W == 0 || c.H == 0) continue;
            var (handle, source) = _windows[i].Source!();
            if (handle.IsNull || source.IsEmpty) continue;
            uint cw = Math.Min(c.W, source.Width), ch = Math.Min(c.H, source.Height);
            // The middle of the source: where a game's action and a video's picture are.
            ushort sx = (ushort)Math.Min(ushort.MaxValue, (source.Width - cw) / 2), sy = (ushort)Math.Min(ushort.MaxValue, (source.Height - ch) / 2);
            int first = n;
            if (cw < c.W || ch < c.H) _rects[n++] = RectPrimitive.Fill(c.X, c.Y, c.W, c.H, 0xFF000000); // letterbox
            _rects[n++] = RectPrimitive.Copy(c.X + (int)(c.W - cw) / 2, c.Y + (int)(c.H - ch) / 2, cw, ch, sx, sy);
            _draws[draws++] = new ComposedDraw(first, n - first, handle, source);
        }
        return _draws.AsSpan(0, draws);
    }

    /// <summary>The primitives of <paramref name="draw"/> (one of the last <see cref="Plan"/>'s).</summary>
    public ReadOnlySpan<RectPrimitive> Primitives(in ComposedDraw draw) => _rects.AsSpan(draw.First, draw.Count);

    private void Add(ref int n, RectPrimitive r)
    {
        if (n < DesktopRects && r.Width > 0 && r.Height > 0) _rects[n++] = r;
    }

    // Client rectangle of window i on a w × h desktop (above a taskbar of `bar` rows): window 0 large on the left,
    // the rest stacked in a column on the right; everything inside the surface, shadows included.
    private (int X, int Y, uint W, uint H) Layout(int i, uint w, uint h, uint bar)
    {
        uint margin = Math.Max(1, w / 40), title = Math.Max(1, bar * 2 / 3);
        if (i == 0 && _windows.Count > 0)
            return ((int)margin, (int)(margin + title), w * 56 / 100, Sub(h * 68 / 100, title));
        int others = Math.Max(1, _windows.Count - 1);
        uint x = w * 56 / 100 + 2 * margin, cw = Sub(w - x, margin + 8);
        uint slot = Sub(h, margin) / (uint)others;
        uint y = margin + slot * (uint)(i - 1) + title;
        return ((int)x, (int)y, cw, Sub(slot, title + margin + 8));
    }

    private static uint Sub(uint a, uint b) => a > b ? a - b : 0;
}

/// <summary>
/// One DRAW_RECTS of a composed frame: primitives [<paramref name="First"/>, +<paramref name="Count"/>) of the plan and
/// the allocation its copies read, with the source surface at an offset inside it (a null handle: no source).
/// </summary>
internal readonly record struct ComposedDraw(int First, int Count, AllocationHandle Source, Surface SourceSurface);
