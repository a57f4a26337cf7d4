namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// The static parts of the timeline page written by <see cref="TimelineHtmlWriter"/>: its style sheet, controls and
/// viewer script. Self-contained on purpose — the page must open from disk with no network.
/// </summary>
internal static class TimelineAssets
{
    public const string Css = """
        body{font:12px system-ui,sans-serif;margin:10px;background:#fafafa;color:#222}
        h1{font-size:16px;margin:0 0 4px}
        #info{margin:2px 0 6px;color:#444}
        #toolbar{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:4px 0}
        #toolbar button{font:inherit;padding:1px 8px}
        #search{font:inherit;width:220px}
        #range{font-variant-numeric:tabular-nums;margin-left:8px}
        #legend{margin:4px 0;line-height:20px}
        #legend .item{display:inline-flex;align-items:center;margin-right:12px;white-space:nowrap}
        .sw{display:inline-block;width:11px;height:11px;margin-right:4px;border-radius:2px}
        .glyph-line{display:inline-block;width:2px;height:12px;margin:0 6px 0 4px}
        .glyph-tri{display:inline-block;width:0;height:0;border-left:5px solid transparent;border-right:5px solid transparent;border-top:9px solid;margin-right:4px}
        .glyph-tick{display:inline-block;width:2px;height:7px;margin:0 6px 0 4px}
        #axis{position:sticky;top:0;z-index:2;display:block;width:100%;background:#fafafa;cursor:crosshair}
        #plot{display:block;width:100%;cursor:crosshair}
        #tooltip{position:fixed;z-index:5;pointer-events:none;background:#fffff4;border:1px solid #999;padding:4px 6px;box-shadow:0 1px 4px rgba(0,0,0,.2);max-width:420px;white-space:pre-line;display:none}
        #summary{margin:6px 0;min-height:18px}
        #summary table{border-collapse:collapse;margin-top:4px}
        #summary td,#summary th{padding:1px 8px;text-align:left;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
        #summary td.n{text-align:right}
        #help{color:#555}

        """;

    public const string Body = """
        <p id="info"></p>
        <div id="toolbar">
          <input id="search" type="search" placeholder="search contexts (process / context)" aria-label="search contexts" />
          <span id="match-count"></span>
          <button id="zoom-in" title="zoom in (W)">+</button>
          <button id="zoom-out" title="zoom out (S)">&#8722;</button>
          <button id="zoom-sel" title="zoom to the selection (Z)">zoom to selection</button>
          <button id="reset" title="show the whole run (0)">reset</button>
          <span id="range"></span>
        </div>
        <div id="legend"></div>
        <p id="help">Wheel: zoom at the cursor. Shift+drag, shift+wheel or A/D: pan. Drag: select a range (summary below). Z: zoom to the selection; 0: reset; Esc: clear the selection. Hover for details.</p>
        <div id="summary"></div>
        <canvas id="axis" height="26"></canvas>
        <canvas id="plot"></canvas>
        <div id="tooltip"></div>

        """;

    public const string Script = """
        "use strict";
        (function () {
          const data = JSON.parse(document.getElementById("timeline-data").textContent);
          const LABEL_W = 240, AXIS_H = 26, LANE_H = 10, SINGLE_H = 16, STRIP_H = 9, HEADER_H = 20, COUNTER_H = 30, PAD = 2;
          // Marker kinds: name, colour, glyph, legend text. Each kind present in a row gets its own strip.
          const MARKERS = [
            ["vsync", "#7b4fb3", "line", "vsync"],
            ["flip", "#1f77b4", "tri", "flip (became visible)"],
            ["missed vsync", "#c2185b", "tri", "missed vsync (frame due, not ready)"],
            ["preemption", "#ff7f0e", "tri", "preemption"],
            ["fault", "#d62728", "tri", "fault"],
            ["interrupt", "#6b6b6b", "tick", "interrupt"],
            ["other", "#a0a0a0", "tick", "other"]
          ];
          const PAGING = "#4d4d4d", UNKNOWN = "#9a9a9a";
          const markerIndex = {}, markerColour = {}, markerGlyph = {};
          MARKERS.forEach((m, i) => { markerIndex[m[0]] = i; markerColour[m[0]] = m[1]; markerGlyph[m[0]] = m[2]; });
          const procColour = new Map(), procName = new Map();
          for (const p of data.processes) { procColour.set(p[0], p[2]); procName.set(p[0], p[1]); }
          const kinds = data.kinds, owners = data.owners;
          const ctxName = new Map();
          for (const r of data.rows) if (r.kind === "context" && r.ctx) ctxName.set(r.ctx, r.name);
          const nsPerCycle = 1e9 / data.clockHz;

          // ---- decode rows ----
          const rows = data.rows.map(r => {
            const row = { name: r.name, kind: r.kind, pid: r.pid, ctx: r.ctx, shown: true };
            if (r.kind === "counter") {
              const n = r.samples.length / 2;
              row.t = new Float64Array(n); row.v = new Float64Array(n);
              let t = 0, max = 0;
              for (let i = 0; i < n; i++) { t += r.samples[2 * i]; row.t[i] = t; row.v[i] = r.samples[2 * i + 1]; if (row.v[i] > max) max = row.v[i]; }
              row.max = max || 1; row.unit = r.unit; row.height = COUNTER_H; row.strips = [];
              return row;
            }
            if (r.depth) {
              const n = r.depth.length / 2;
              row.depth = { t: new Float64Array(n), v: new Float64Array(n), max: 1 };
              let t = 0;
              for (let i = 0; i < n; i++) { t += r.depth[2 * i]; row.depth.t[i] = t; row.depth.v[i] = r.depth[2 * i + 1]; if (row.depth.v[i] > row.depth.max) row.depth.max = row.depth.v[i]; }
            }
            row.lanes = [];
            for (let l = 0; l < r.lanes; l++) row.lanes.push({ s: [], e: [], k: [], o: [], id: [] });
            let t = 0;
            const sl = r.slices;
            for (let i = 0; i < sl.length; i += 6) {
              t += sl[i];
              const lane = row.lanes[sl[i + 2]];
              lane.s.push(t); lane.e.push(t + sl[i + 1]); lane.k.push(sl[i + 3]); lane.o.push(sl[i + 4]); lane.id.push(sl[i + 5]);
            }
            for (const lane of row.lanes) { // a lane's slices never overlap, so ends ascend with starts; keep them monotone for the search
              for (let i = 1; i < lane.e.length; i++) if (lane.e[i] < lane.e[i - 1]) lane.e[i] = lane.e[i - 1];
            }
            const strips = new Map();
            t = 0;
            const ins = r.instants;
            for (let i = 0; i < ins.length; i += 5) {
              t += ins[i];
              const mk = kinds[ins[i + 1]][2];
              let s = strips.get(mk);
              if (!s) strips.set(mk, s = { kind: mk, t: [], k: [], o: [], id: [], v: [] });
              s.t.push(t); s.k.push(ins[i + 1]); s.o.push(ins[i + 2]); s.id.push(ins[i + 3]); s.v.push(ins[i + 4]);
            }
            row.strips = [...strips.values()].sort((a, b) => markerIndex[a.kind] - markerIndex[b.kind]);
            row.laneH = r.lanes > 1 ? LANE_H : SINGLE_H;
            row.slicesH = sl.length > 0 || row.depth ? r.lanes * row.laneH : 0;
            row.height = PAD + row.slicesH + row.strips.length * STRIP_H + PAD;
            return row;
          });
          const HEADINGS = { context: "Software queues (per context)", engine: "Hardware queues (per engine)", device: "Device", counter: "Counters" };

          // ---- state ----
          let v0 = 0, v1 = data.end, sel = null, filter = "", drag = null, layout = [], plotW = 100, pending = false;
          const api = { lastDrawMs: 0, draws: 0 };
          const axis = document.getElementById("axis"), plot = document.getElementById("plot"), tip = document.getElementById("tooltip");
          const actx = axis.getContext("2d"), pctx = plot.getContext("2d");

          // ---- formatting ----
          function fmtNs(ns) {
            const a = Math.abs(ns);
            if (a >= 1e6) return trim((ns / 1e6).toFixed(3)) + " ms";
            if (a >= 1e3) return trim((ns / 1e3).toFixed(3)) + " \u00b5s";
            return trim(ns.toFixed(1)) + " ns";
          }
          function trim(s) { return s.indexOf(".") < 0 ? s : s.replace(/0+$/, "").replace(/\.$/, ""); }
          const fmtCycles = c => fmtNs(c * nsPerCycle);
          function fmtValue(v, unit) {
            if (unit === "bytes") {
              const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
              while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
              return trim(v.toFixed(2)) + " " + u[i];
            }
            return String(v) + (unit && unit !== "value" ? " " + unit : "");
          }
          function ownerText(o) {
            const [pid, ctx] = owners[o];
            const parts = [];
            if (pid) parts.push("process: " + (procName.get(pid) || "?") + " (pid " + pid + ")");
            if (ctx) parts.push("context: " + (ctxName.get(ctx) || "ctx " + ctx));
            return parts;
          }
          // Round ticks: 1, 2 or 5 x 10^k of the unit that suits the step.
          function ticks() {
            const spanNs = (v1 - v0) * nsPerCycle;
            const raw = spanNs / Math.max(1, plotW / 110);
            const pow = Math.pow(10, Math.floor(Math.log10(raw)));
            const m = raw / pow, mult = m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10;
            const step = mult * pow;
            const unit = step >= 1e6 ? 1e6 : step >= 1e3 ? 1e3 : 1;
            const name = unit === 1e6 ? "ms" : unit === 1e3 ? "\u00b5s" : "ns";
            const decimals = Math.max(0, -Math.floor(Math.log10(step / unit) + 1e-9));
            const out = [];
            const first = Math.ceil(v0 * nsPerCycle / step - 1e-9);
            for (let k = first; k * step <= v1 * nsPerCycle + 1e-6; k++) {
              out.push({ ns: k * step, label: (k * step / unit).toFixed(decimals) + " " + name });
            }
            return out;
          }

          // ---- geometry ----
          const X = c => LABEL_W + (c - v0) / (v1 - v0) * plotW;
          const T = x => v0 + (x - LABEL_W) / plotW * (v1 - v0);
          function lowerBound(arr, value) { let lo = 0, hi = arr.length; while (lo < hi) { const mid = (lo + hi) >> 1; if (arr[mid] < value) lo = mid + 1; else hi = mid; } return lo; }
          function matches(row) {
            if (!filter) return true;
            if (row.kind === "context") return row.name.toLowerCase().includes(filter);
            if (row.kind === "counter" && row.ctx) return (ctxName.get(row.ctx) || row.name).toLowerCase().includes(filter);
            return true;
          }
          function ownerMatches(o) {
            if (!filter) return true;
            const ctx = owners[o][1];
            return !ctx || (ctxName.get(ctx) || "").toLowerCase().includes(filter);
          }
          function computeLayout() {
            layout = [];
            let y = 0, lastKind = null, shownContexts = 0, contexts = 0;
            for (const row of rows) {
              if (row.kind === "context") { contexts++; }
              row.shown = matches(row);
              if (!row.shown) continue;
              if (row.kind === "context") shownContexts++;
              if (row.kind !== lastKind) { layout.push({ heading: HEADINGS[row.kind], y: y }); y += HEADER_H; lastKind = row.kind; }
              layout.push({ row: row, y: y });
              y += row.height;
            }
            document.getElementById("match-count").textContent = filter ? shownContexts + " of " + contexts + " contexts" : "";
            return y + 4;
          }

          // ---- drawing ----
          function schedule() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } }
          function draw() {
            const started = performance.now();
            const dpr = window.devicePixelRatio || 1;
            const W = Math.max(LABEL_W + 100, plot.clientWidth);
            plotW = W - LABEL_W - 8;
            const H = computeLayout();
            for (const [c, h] of [[axis, AXIS_H], [plot, H]]) {
              c.width = Math.round(W * dpr); c.height = Math.round(h * dpr); c.style.height = h + "px";
            }
            actx.setTransform(dpr, 0, 0, dpr, 0, 0); pctx.setTransform(dpr, 0, 0, dpr, 0, 0);
            drawAxis(W);
            const g = pctx;
            g.font = "11px system-ui,sans-serif"; g.textBaseline = "middle";
            const tk = ticks();
            g.fillStyle = "#eeeeee";
            for (const t of tk) { const x = Math.round(X(t.ns / nsPerCycle)); g.fillRect(x, 0, 1, H); }
            for (const item of layout) {
              if (item.heading) {
                g.fillStyle = "#333"; g.font = "bold 12px system-ui,sans-serif";
                g.fillText(item.heading, 2, item.y + HEADER_H / 2 + 1);
                g.font = "11px system-ui,sans-serif";
                continue;
              }
              const row = item.row, y = item.y;
              g.fillStyle = "#ffffff"; g.fillRect(LABEL_W, y, plotW, row.height - 1);
              g.fillStyle = "#444"; g.save(); g.beginPath(); g.rect(0, y, LABEL_W - 6, row.height); g.clip();
              g.fillText(row.name, 4, y + Math.min(row.height, 18) / 2 + 1); g.restore();
              g.save(); g.beginPath(); g.rect(LABEL_W, y, plotW, row.height); g.clip();
              if (row.kind === "counter") drawCounter(g, row, y); else drawSlices(g, row, y);
              g.restore();
            }
            if (sel) {
              g.fillStyle = "rgba(30,120,255,0.12)";
              const a = Math.max(LABEL_W, X(sel[0])), b = Math.min(LABEL_W + plotW, X(sel[1]));
              if (b > a) g.fillRect(a, 0, Math.max(1, b - a), H);
            }
            updateRange();
            api.lastDrawMs = performance.now() - started; api.draws++;
          }
          function drawAxis(W) {
            const g = actx;
            g.fillStyle = "#fafafa"; g.fillRect(0, 0, W, AXIS_H);
            g.fillStyle = "#555"; g.font = "11px system-ui,sans-serif"; g.textBaseline = "top";
            g.fillText("time", 4, 6);
            for (const t of ticks()) {
              const x = Math.round(X(t.ns / nsPerCycle));
              g.fillRect(x, AXIS_H - 8, 1, 8);
              g.fillText(t.label, x + 3, 4);
            }
            if (sel) {
              g.fillStyle = "rgba(30,120,255,0.35)";
              const a = Math.max(LABEL_W, X(sel[0])), b = Math.min(LABEL_W + plotW, X(sel[1]));
              if (b > a) g.fillRect(a, AXIS_H - 5, Math.max(1, b - a), 5);
            }
            g.fillStyle = "#ccc"; g.fillRect(0, AXIS_H - 1, W, 1);
          }
          function sliceColour(k, o) {
            if (kinds[k][1] === "paging_buffer") return PAGING;
            return procColour.get(owners[o][0]) || UNKNOWN;
          }
          // Decimation: a slice narrower than a pixel whose pixel its lane has already painted is skipped, so the
          // cost of a frame is bounded by the canvas width per lane, whatever the zoom.
          // A context's queue depth, shaded behind its lanes (full height = its deepest queue).
          function drawDepth(g, row, y) {
            const d = row.depth, base = y + PAD + row.slicesH, scale = (row.slicesH - 1) / d.max;
            g.fillStyle = "rgba(0,0,0,0.08)";
            let i = Math.max(0, lowerBound(d.t, v0) - 1), lastPx = -1;
            for (; i < d.t.length && d.t[i] <= v1; i++) {
              if (d.v[i] <= 0) continue;
              const a = Math.max(LABEL_W, X(d.t[i])), b = Math.min(LABEL_W + plotW, i + 1 < d.t.length ? X(d.t[i + 1]) : LABEL_W + plotW);
              if (b - a < 1 && Math.floor(a) <= lastPx) continue;
              const h = d.v[i] * scale;
              g.fillRect(a, base - h, Math.max(1, b - a), h); lastPx = Math.floor(Math.max(a, b));
            }
          }
          function depthAt(row, t) { const i = lowerBound(row.depth.t, t + 1e-9) - 1; return i >= 0 ? row.depth.v[i] : 0; }
          function drawSlices(g, row, y) {
            const right = LABEL_W + plotW;
            if (row.depth) drawDepth(g, row, y);
            for (let l = 0; l < row.lanes.length; l++) {
              const lane = row.lanes[l], top = y + PAD + l * row.laneH, h = row.laneH - 1;
              let i = lowerBound(lane.e, v0), painted = -1;
              for (; i < lane.s.length && lane.s[i] <= v1; i++) {
                const a = Math.max(LABEL_W, X(lane.s[i])), b = Math.min(right, X(lane.e[i]));
                const faded = row.kind === "engine" && !ownerMatches(lane.o[i]);
                if (b - a < 1) {
                  const p = Math.floor(a);
                  if (p <= painted) continue;
                  g.globalAlpha = faded ? 0.15 : 1; g.fillStyle = sliceColour(lane.k[i], lane.o[i]);
                  g.fillRect(p, top, 1, h); painted = p;
                } else {
                  g.globalAlpha = faded ? 0.15 : 1; g.fillStyle = sliceColour(lane.k[i], lane.o[i]);
                  g.fillRect(a, top, b - a - (b - a > 3 ? 0.5 : 0), h); painted = Math.floor(b);
                }
              }
            }
            g.globalAlpha = 1;
            let sy = y + PAD + row.slicesH;
            for (const s of row.strips) {
              g.fillStyle = markerColour[s.kind];
              const glyph = markerGlyph[s.kind];
              let painted = -1;
              for (let i = lowerBound(s.t, v0); i < s.t.length && s.t[i] <= v1; i++) {
                const x = X(s.t[i]), p = Math.floor(x);
                if (p <= painted) continue;
                painted = p;
                if (glyph === "line") g.fillRect(p, sy, 1.5, STRIP_H - 1);
                else if (glyph === "tick") g.fillRect(p, sy + 2, 1, STRIP_H - 4);
                else { g.beginPath(); g.moveTo(x - 3.5, sy); g.lineTo(x + 3.5, sy); g.lineTo(x, sy + STRIP_H - 1); g.closePath(); g.fill(); painted = p + 2; }
              }
              sy += STRIP_H;
            }
          }
          function drawCounter(g, row, y) {
            const base = y + row.height - 3, scale = (row.height - 8) / row.max;
            let i = Math.max(0, lowerBound(row.t, v0) - 1);
            if (row.t.length === 0) return;
            g.strokeStyle = "#3b6ea8"; g.lineWidth = 1; g.beginPath();
            let lastY = base - (row.t[i] <= v0 ? row.v[i] * scale : 0);
            g.moveTo(LABEL_W, lastY);
            let lastPx = -1;
            for (; i < row.t.length && row.t[i] <= v1; i++) {
              const x = Math.max(LABEL_W, X(row.t[i])), ny = base - row.v[i] * scale;
              if (Math.floor(x) !== lastPx) g.lineTo(x, lastY);
              g.lineTo(x, ny); lastY = ny; lastPx = Math.floor(x);
            }
            g.lineTo(LABEL_W + plotW, lastY); g.stroke();
            g.fillStyle = "#777"; g.fillText("max " + fmtValue(row.max, row.unit), LABEL_W + plotW - 130, y + 8);
          }

          // ---- range, selection summary ----
          function updateRange() {
            const r = document.getElementById("range");
            r.textContent = "visible: " + fmtCycles(v0) + " \u2013 " + fmtCycles(v1) + " (" + fmtCycles(v1 - v0) + ")";
            r.dataset.startNs = String(v0 * nsPerCycle); r.dataset.endNs = String(v1 * nsPerCycle);
          }
          function summarize() {
            const box = document.getElementById("summary");
            box.textContent = "";
            if (!sel) return;
            const [a, b] = sel, span = b - a;
            const head = document.createElement("div");
            head.textContent = "Selection: " + fmtCycles(a) + " \u2013 " + fmtCycles(b) + " (" + fmtCycles(span) + ")";
            box.appendChild(head);
            const busy = new Map(), engineBusy = [];
            for (const row of rows) {
              if (row.kind !== "engine") continue;
              let total = 0;
              for (const lane of row.lanes) {
                for (let i = lowerBound(lane.e, a); i < lane.s.length && lane.s[i] < b; i++) {
                  const o = Math.min(b, lane.e[i]) - Math.max(a, lane.s[i]);
                  if (o <= 0) continue;
                  total += o;
                  const ctx = owners[lane.o[i]][1];
                  if (ctx && kinds[lane.k[i]][1] === "dma_buffer") busy.set(ctx, (busy.get(ctx) || 0) + o);
                }
              }
              if (total > 0) engineBusy.push([row.name, total]);
            }
            const table = document.createElement("table");
            const add = (cells, th) => { const tr = document.createElement("tr"); cells.forEach((c, i) => { const td = document.createElement(th ? "th" : "td"); td.textContent = c; if (i > 0 && !th) td.className = "n"; tr.appendChild(td); }); table.appendChild(tr); };
            add(["context (busy on its engine)", "busy", "% of selection"], true);
            [...busy.entries()].sort((x, y) => y[1] - x[1]).forEach(([ctx, c]) => add([ctxName.get(ctx) || "ctx " + ctx, fmtCycles(c), (100 * c / span).toFixed(1) + " %"]));
            for (const [name, c] of engineBusy) add(["engine " + name + " (all work)", fmtCycles(c), (100 * c / span).toFixed(1) + " %"]);
            box.appendChild(table);
          }

          // ---- view changes ----
          function setView(a, b) {
            const full = data.end, minSpan = Math.min(full, 50 / nsPerCycle);
            let span = Math.max(minSpan, Math.min(full, b - a));
            a = Math.max(0, Math.min(a, full - span));
            v0 = a; v1 = a + span;
            updateRange(); schedule();
          }
          function zoomAt(c, factor) { setView(c - (c - v0) * factor, c + (v1 - c) * factor); }
          function pan(cycles) { setView(v0 + cycles, v1 + cycles); }

          // ---- hover ----
          function hit(px, py) {
            for (const item of layout) {
              if (item.heading || py < item.y || py >= item.y + item.row.height) continue;
              const row = item.row, y = py - item.y, t = T(px), tol = 2 * (v1 - v0) / plotW;
              if (px < LABEL_W) return { title: row.name, lines: [row.kind === "counter" ? "counter (" + row.unit + ")" : row.kind + " row"] };
              if (row.kind === "counter") {
                const i = lowerBound(row.t, t + 1e-9) - 1;
                return { title: row.name, lines: ["at " + fmtCycles(t) + ": " + fmtValue(i >= 0 ? row.v[i] : 0, row.unit)] };
              }
              if (y >= PAD && y < PAD + row.slicesH) {
                const lane = row.lanes[Math.min(row.lanes.length - 1, Math.floor((y - PAD) / row.laneH))];
                let best = -1;
                for (let i = lowerBound(lane.e, t - tol); i < lane.s.length && lane.s[i] <= t + tol; i++) { best = i; if (lane.s[i] <= t && lane.e[i] >= t) break; }
                if (best < 0) return row.depth ? { title: row.name, lines: ["at " + fmtCycles(t) + ": queue depth " + depthAt(row, t) + " buffers waiting"] } : null;
                const k = kinds[lane.k[best]], d = lane.e[best] - lane.s[best];
                const lines = ["on " + row.name, "start: " + fmtCycles(lane.s[best]), "duration: " + fmtCycles(d) + " (" + d + " cycles)"].concat(ownerText(lane.o[best]));
                if (lane.id[best]) lines.push("id: " + lane.id[best]);
                return { title: k[0] + " [" + k[1] + "]", lines: lines };
              }
              const si = Math.floor((y - PAD - row.slicesH) / STRIP_H);
              const s = row.strips[si];
              if (!s) return null;
              let best = -1, bestD = 4;
              for (let i = lowerBound(s.t, T(px - 4)); i < s.t.length && X(s.t[i]) <= px + 4; i++) { const dd = Math.abs(X(s.t[i]) - px); if (dd < bestD) { bestD = dd; best = i; } }
              if (best < 0) return null;
              const k = kinds[s.k[best]];
              const lines = ["on " + row.name, "at: " + fmtCycles(s.t[best]), "duration: instant"].concat(ownerText(s.o[best]));
              if (s.id[best]) lines.push("id: " + s.id[best]);
              if (s.v[best]) lines.push("value: " + s.v[best]);
              return { title: k[0] + " [" + s.kind + "]", lines: lines };
            }
            return null;
          }
          function showTip(ev) {
            const r = plot.getBoundingClientRect();
            const h = hit(ev.clientX - r.left, ev.clientY - r.top);
            if (!h) { tip.style.display = "none"; return; }
            tip.textContent = h.title + "\n" + h.lines.join("\n");
            tip.style.display = "block";
            const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 4), y = ev.clientY + 16 + tip.offsetHeight > window.innerHeight ? ev.clientY - tip.offsetHeight - 8 : ev.clientY + 16;
            tip.style.left = x + "px"; tip.style.top = y + "px";
          }

          // ---- input ----
          function onDown(ev, canvas) {
            const r = canvas.getBoundingClientRect(), x = ev.clientX - r.left;
            if (x < LABEL_W || ev.button !== 0) return;
            ev.preventDefault();
            drag = ev.shiftKey ? { mode: "pan", x: ev.clientX, a: v0, b: v1 } : { mode: "brush", x: ev.clientX, t: T(x), left: r.left };
          }
          function onMove(ev) {
            if (!drag) { if (ev.target === plot) showTip(ev); else tip.style.display = "none"; return; }
            if (drag.mode === "pan") {
              const dc = (ev.clientX - drag.x) / plotW * (drag.b - drag.a);
              setView(drag.a - dc, drag.b - dc);
            } else {
              const t = Math.max(0, Math.min(data.end, T(ev.clientX - drag.left)));
              sel = [Math.min(drag.t, t), Math.max(drag.t, t)];
              schedule();
            }
          }
          function onUp(ev) {
            if (!drag) return;
            if (drag.mode === "brush") {
              if (Math.abs(ev.clientX - drag.x) < 3) sel = null;
              summarize(); schedule();
            }
            drag = null;
          }
          for (const c of [axis, plot]) c.addEventListener("mousedown", ev => onDown(ev, c));
          window.addEventListener("mousemove", onMove);
          window.addEventListener("mouseup", onUp);
          plot.addEventListener("mouseleave", () => { tip.style.display = "none"; });
          for (const c of [axis, plot]) c.addEventListener("wheel", ev => {
            const r = c.getBoundingClientRect(), x = ev.clientX - r.left;
            if (x < LABEL_W) return;
            ev.preventDefault();
            if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) pan((ev.shiftKey ? ev.deltaY : ev.deltaX) / plotW * (v1 - v0));
            else zoomAt(T(x), Math.pow(1.0015, ev.deltaY));
          }, { passive: false });
          window.addEventListener("keydown", ev => {
            if (ev.target && ev.target.tagName === "INPUT") return;
            const c = (v0 + v1) / 2, k = ev.key.toLowerCase();
            if (k === "w") zoomAt(c, 0.7); else if (k === "s") zoomAt(c, 1 / 0.7);
            else if (k === "a") pan(-(v1 - v0) * 0.2); else if (k === "d") pan((v1 - v0) * 0.2);
            else if (k === "0") setView(0, data.end);
            else if (k === "z" && sel) setView(sel[0], sel[1]);
            else if (k === "escape") { sel = null; summarize(); schedule(); }
          });
          document.getElementById("zoom-in").addEventListener("click", () => zoomAt((v0 + v1) / 2, 0.5));
          document.getElementById("zoom-out").addEventListener("click", () => zoomAt((v0 + v1) / 2, 2));
          document.getElementById("reset").addEventListener("click", () => setView(0, data.end));
          document.getElementById("zoom-sel").addEventListener("click", () => { if (sel) setView(sel[0], sel[1]); });
          document.getElementById("search").addEventListener("input", ev => { filter = ev.target.value.trim().toLowerCase(); schedule(); });
          window.addEventListener("resize", schedule);

          // ---- legend and info ----
          (function legend() {
            const box = document.getElementById("legend");
            const item = (swatchClass, colour, text) => {
              const span = document.createElement("span"); span.className = "item";
              const sw = document.createElement("span"); sw.className = swatchClass;
              if (swatchClass === "glyph-tri") sw.style.borderTopColor = colour; else sw.style.background = colour;
              span.appendChild(sw); span.appendChild(document.createTextNode(text)); box.appendChild(span);
            };
            for (const p of data.processes) item("sw", p[2], p[1] + " (pid " + p[0] + ")");
            const present = new Set(kinds.map(k => k[1]));
            if (present.has("paging_buffer")) item("sw", PAGING, "paging buffer (evict / page-in)");
            const markers = new Set(); for (const r of rows) for (const s of r.strips) markers.add(s.kind);
            for (const m of MARKERS) if (markers.has(m[0])) item("glyph-" + m[2], m[1], m[3]);
            const info = document.getElementById("info");
            info.textContent = "Device time " + fmtCycles(data.end) + " (" + data.end + " cycles at " + data.clockHz + " Hz). Software-queue slices run from submission to completion; engine slices are what ran." +
              (data.dropped > 0 ? " " + data.dropped + " events were dropped (recorder full)." : "");
          })();

          // ---- test hooks ----
          api.view = () => ({ startNs: v0 * nsPerCycle, endNs: v1 * nsPerCycle });
          api.zoomTo = (startNs, endNs) => setView(startNs / nsPerCycle, endNs / nsPerCycle);
          api.ticks = () => ticks().map(t => t.label);
          api.rows = () => layout.filter(i => i.row).map(i => i.row.name);
          api.draw = draw;
          // The client coordinates of the middle of the widest visible slice of a row (for a pointer to hover).
          api.locate = name => {
            const item = layout.find(i => i.row && i.row.name === name);
            if (!item || !item.row.lanes) return null;
            let best = null;
            item.row.lanes.forEach((lane, l) => {
              for (let i = lowerBound(lane.e, v0); i < lane.s.length && lane.s[i] <= v1; i++) {
                const a = Math.max(LABEL_W, X(lane.s[i])), b = Math.min(LABEL_W + plotW, X(lane.e[i]));
                if (!best || b - a > best.w) best = { w: b - a, x: (a + b) / 2, y: item.y + PAD + l * item.row.laneH + item.row.laneH / 2 };
              }
            });
            if (!best) return null;
            const r = plot.getBoundingClientRect();
            return { x: r.left + best.x, y: r.top + best.y, width: best.w };
          };
          window.timeline = api;
          draw();
          api.ready = true;
        })();

        """;
}
