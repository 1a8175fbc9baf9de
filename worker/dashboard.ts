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
  table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
</style></head>
<body>
<h1>Serflow — model <code>${model}</code></h1>
<div class="sub">Refreshes every ${DASHBOARD_REFRESH_MS / 1000} s · <span id="updated">waiting for data…</span> <span id="err"></span></div>
<div class="grid">
  <div class="card"><h2>Ingestion rate (req/s)</h2><div id="c-rate"></div></div>
  <div class="card"><h2>Exit fraction per stage (last 10 min)</h2><div id="c-exit"></div></div>
  <div class="card"><h2>Rows served: Workers vs VMs (%)</h2><div id="c-share"></div></div>
  <div class="card"><h2>VMs: desired vs running</h2><div id="c-vms"></div></div>
  <div class="card"><h2>Cost per 1,000 requests (USD)</h2><div id="c-cost"></div></div>
  <div class="card"><h2>Latency in the Worker (ms, last 60 s)</h2><div id="c-lat"></div></div>
</div>
<div class="card" style="margin-top:12px"><h2>Current plan</h2><table id="stages"></table><div id="plan"></div></div>
<script src="/dashboard/uplot.js"></script>
<script>
const model = ${JSON.stringify(model)};
const H = 220, W = () => document.querySelector(".card").clientWidth - 16;
const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const charts = {}, hist = { t: [] }, prev = {};
function chart(id, labels) {
  const series = [{}].concat(labels.map((l, i) => ({ label: l, stroke: colors[i % colors.length], width: 2 })));
  // Costs per 1,000 requests are fractions of a cent: print them in scientific notation.
  const y = id === "c-cost" ? { size: 64, values: (u, vals) => vals.map((v) => (v == null ? "" : v.toExponential(1))) } : {};
  charts[id] = { u: new uPlot({ width: W(), height: H, series, axes: [{}, y], scales: { x: { time: true } } }, [[]].concat(labels.map(() => [])), document.getElementById(id)), labels };
}
function push(id, values) {
  const c = charts[id];
  (hist[id] ??= c.labels.map(() => [])).forEach((arr, i) => arr.push(values[i] ?? null));
}
async function tick() {
  try {
    const res = await fetch("/v2/models/" + model + "/dashboard", { credentials: "same-origin" });
    if (!res.ok) throw new Error(res.status + " " + (await res.json()).error);
    const d = await res.json();
    const t = d.now_s;
    if (!charts["c-exit"]) {
      chart("c-rate", ["req/s (last second)", "EWMA"]);
      chart("c-exit", d.stats.stages.map((s) => "stage " + s.stage));
      chart("c-share", ["Workers", "VMs"]);
      chart("c-vms", ["desired", "running", "booting"]);
      chart("c-cost", ["per 1,000 requests"]);
      chart("c-lat", ["p50", "p99"]);
    }
    hist.t.push(t);
    push("c-rate", [d.stats.per_second.at(-1) ?? 0, d.stats.ingestion_rps.mean]);
    push("c-exit", d.stats.stages.map((s) => s.window.exit_fraction));
    const vmRows = Object.entries(d.stats.routes).filter(([r]) => r.includes("v")).reduce((a, [, n]) => a + n, 0);
    const allRows = Object.values(d.stats.routes).reduce((a, n) => a + n, 0);
    const dv = vmRows - (prev.vm ?? vmRows), da = allRows - (prev.all ?? allRows);
    push("c-share", da > 0 ? [100 * (da - dv) / da, 100 * dv / da] : [null, null]);
    push("c-vms", [d.plan.vms.desired, d.plan.vms.running, d.plan.vms.booting]);
    const cost = d.cost_usd.worker + d.cost_usd.vm + d.cost_usd.control;
    const dr = d.stats.requests - (prev.req ?? d.stats.requests);
    push("c-cost", [dr > 0 ? 1000 * (cost - (prev.cost ?? cost)) / dr : null]);
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
