// GET /dashboard: live charts for operators, drawn with uPlot (served from the bundle, no CDN). The page
// polls the admin JSON endpoint every 2 s with its session cookie (set by /dashboard?token=) and keeps the
// history.
import uplotJs from "../node_modules/uplot/dist/uPlot.iife.min.js";
import uplotCss from "../node_modules/uplot/dist/uPlot.min.css";

export const DASHBOARD_REFRESH_MS = 2_000;
export const UPLOT_JS = uplotJs;
export const UPLOT_CSS = uplotCss;

export function dashboardHtml(model: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Serflow · ${model}</title>
<link rel="stylesheet" href="/dashboard/uplot.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
  h1 { font-size: 18px; margin: 0 0 8px; } .sub { color: #666; margin-bottom: 12px; }
  .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; }
  .card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
  .card h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
  #plan { white-space: pre-wrap; font-size: 13px; } #err { color: #b00; }
  .note { color: #666; font-size: 12px; margin-top: 4px; }
  .savings { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin-bottom: 12px; }
  .savings .k { color: #555; font-size: 13px; } .savings .v { font-size: 24px; font-weight: 600; margin: 2px 0; }
  .savings .s { color: #666; font-size: 12px; } .good { color: #1a7f37; } .bad { color: #b00; }
  table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
</style></head>
<body>
<h1>Serflow — model <code>${model}</code></h1>
<div class="sub">Refreshes every ${DASHBOARD_REFRESH_MS / 1000} s · <span id="updated">waiting for data…</span> <span id="err"></span></div>
<div class="card savings" id="savings">
  <div><div class="k">Cost so far</div><div class="v" id="cost-now">–</div><div class="s" id="cost-split"></div></div>
  <div><div class="k">Saved against all on Workers</div><div class="v" id="saved-workers">–</div><div class="s" id="alt-workers"></div></div>
  <div><div class="k">Saved against VMs only</div><div class="v" id="saved-vms">–</div><div class="s" id="alt-vms"></div></div>
</div>
<div class="grid">
  <div class="card"><h2>Ingestion rate (req/s)</h2><div id="c-rate"></div></div>
  <div class="card"><h2>Rows served: Workers vs VMs (%)</h2><div id="c-share"></div></div>
  <div class="card"><h2>VMs: desired vs running</h2><div id="c-vms"></div></div>
  <div class="card"><h2>Cumulative cost (USD)</h2><div id="c-cum"></div></div>
  <div class="card"><h2>Cost per million requests (USD)</h2><div id="c-cost"></div></div>
  <div class="card"><h2>Exit fraction per stage (last 10 min)</h2><div id="c-exit"></div></div>
  <div class="card"><h2>Request latency measured in the Worker (ms, last 60 s)</h2><div id="c-lat"></div>
    <div class="note">Wall time on the Worker's clock. Cloudflare stops that clock while a Worker computes (it moves
    only across I/O), so in production this shows waits on VMs and Durable Objects, not inference time;
    under local workerd it is the full wall time.</div></div>
</div>
<div class="card" style="margin-top:12px"><h2>Current plan</h2><table id="stages"></table><div id="plan"></div></div>
<script src="/dashboard/uplot.js"></script>
<script>
const model = ${JSON.stringify(model)};
const H = 220, W = () => document.querySelector(".grid .card").clientWidth - 16;
const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const charts = {}, hist = { t: [] }, prev = {};
// Dollars with as many decimals as the amount needs (a demo's bill is a fraction of a cent).
function usd(v) {
  const a = Math.abs(v);
  const d = a >= 1 || a === 0 ? 2 : Math.min(10, 2 - Math.floor(Math.log10(a)));
  return (v < 0 ? "-$" : "$") + a.toFixed(d);
}
// Axis ticks in dollars, with the decimals the tick spacing needs.
function usdTicks(u, splits) {
  const step = Math.abs((splits[1] ?? splits[0]) - splits[0]) || Math.abs(splits[0]) || 1;
  const d = Math.max(0, Math.min(10, -Math.floor(Math.log10(step))));
  return splits.map((v) => (v == null ? "" : "$" + v.toFixed(d)));
}
function chart(id, labels, dollars = false) {
  const series = [{}].concat(labels.map((l, i) => ({ label: l, stroke: colors[i % colors.length], width: 2, ...(dollars ? { value: (u, v) => (v == null ? "-" : usd(v)) } : {}) })));
  const y = dollars ? { size: 84, values: usdTicks } : {};
  charts[id] = { u: new uPlot({ width: W(), height: H, series, axes: [{}, y], scales: { x: { time: true } } }, [[]].concat(labels.map(() => [])), document.getElementById(id)), labels };
}
function saved(id, base, actual, what) {
  const el = document.getElementById(id);
  const pct = base > 0 ? (100 * (base - actual)) / base : 0;
  // Far above the alternative a percentage stops meaning much: say how many times its cost instead.
  el.textContent = usd(base - actual) + " (" + (pct >= -100 ? pct.toFixed(1) + "%" : Math.round(actual / base).toLocaleString("en-US") + "× its cost") + ")";
  el.className = "v " + (base >= actual ? "good" : "bad");
  el.dataset.usd = String(base - actual);
  el.dataset.percent = String(pct);
  document.getElementById(id.replace("saved", "alt")).textContent = what + " would have cost " + usd(base);
}
function push(id, values) {
  const c = charts[id];
  // A chart made after the first tick starts with gaps for the ticks it missed.
  (hist[id] ??= c.labels.map(() => hist.t.slice(1).map(() => null))).forEach((arr, i) => arr.push(values[i] ?? null));
}
async function tick() {
  try {
    const res = await fetch("/v2/models/" + model + "/dashboard", { credentials: "same-origin" });
    if (!res.ok) throw new Error(res.status + " " + (await res.json()).error);
    const d = await res.json();
    const t = d.now_s;
    // The stages are known once a request has been served.
    if (!charts["c-exit"] && d.stats.stages.length) chart("c-exit", d.stats.stages.map((s) => "stage " + s.stage));
    if (!charts["c-rate"]) {
      chart("c-rate", ["req/s (second before last)", "EWMA"]);
      chart("c-share", ["Workers", "VMs"]);
      chart("c-vms", ["desired", "running", "booting"]);
      chart("c-cost", ["per million requests"], true);
      chart("c-cum", ["Serflow", "all on Workers", "VMs only"], true);
      chart("c-lat", ["p50", "p99"]);
    }
    hist.t.push(t);
    // Isolates flush their counts once a second, so the newest second may still be filling: plot the one before.
    push("c-rate", [d.stats.per_second.at(-2) ?? 0, d.stats.ingestion_rps.mean]);
    if (charts["c-exit"]) push("c-exit", d.stats.stages.map((s) => s.window.exit_fraction));
    const vmRows = Object.entries(d.stats.routes).filter(([r]) => r.includes("v")).reduce((a, [, n]) => a + n, 0);
    const allRows = Object.values(d.stats.routes).reduce((a, n) => a + n, 0);
    const dv = vmRows - (prev.vm ?? vmRows), da = allRows - (prev.all ?? allRows);
    push("c-share", da > 0 ? [100 * (da - dv) / da, 100 * dv / da] : [null, null]);
    push("c-vms", [d.plan.vms.desired, d.plan.vms.running, d.plan.vms.booting]);
    const cost = d.cost_usd.worker + d.cost_usd.vm + d.cost_usd.control;
    const dr = d.stats.requests - (prev.req ?? d.stats.requests);
    push("c-cost", [dr > 0 ? 1e6 * (cost - (prev.cost ?? cost)) / dr : null]);
    const sv = d.savings;
    push("c-cum", [sv.actualUsd, sv.allWorkersUsd, sv.vmOnlyUsd]);
    document.getElementById("cost-now").textContent = usd(sv.actualUsd);
    document.getElementById("cost-split").textContent = "Workers " + usd(d.cost_usd.worker) + " · VMs " + usd(d.cost_usd.vm) + " · Durable Objects " + usd(d.cost_usd.control);
    saved("saved-workers", sv.allWorkersUsd, sv.actualUsd, "Every stage in Workers");
    saved("saved-vms", sv.vmOnlyUsd, sv.actualUsd, sv.vmOnlyVms + " VM" + (sv.vmOnlyVms > 1 ? "s" : "") + " always on, sized for the peak rate,");
    push("c-lat", [d.stats.latency_ms.p50, d.stats.latency_ms.p99]);
    Object.assign(prev, { vm: vmRows, all: allRows, req: d.stats.requests, cost });
    for (const id in charts) charts[id].u.setData([hist.t.slice(-300)].concat(hist[id].map((a) => a.slice(-300))));
    document.getElementById("stages").innerHTML = "<tr><th>stage</th><th>placement</th><th>VM share</th><th>arrivals</th><th>exit fraction</th></tr>" +
      d.plan.stages.map((s) => "<tr><td>" + s.stage + "</td><td>" + s.placement + "</td><td>" + (100 * s.vm_share).toFixed(1) + "%</td><td>" +
        (d.stats.stages[s.stage]?.arrivals ?? 0) + "</td><td>" + (d.stats.stages[s.stage]?.exit_fraction ?? 0).toFixed(3) + "</td></tr>").join("");
    document.getElementById("plan").textContent = d.plan.reason;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString() + " · " + d.stats.requests + " requests";
    document.getElementById("updated").dataset.ticks = String(hist.t.length);
    document.getElementById("err").textContent = "";
  } catch (e) { document.getElementById("err").textContent = String(e); }
}
window.serflowCharts = charts;
tick(); setInterval(tick, ${DASHBOARD_REFRESH_MS});
</script></body></html>`;
}
