// A small SVG writer for the simulator's plots: bar charts and line charts in stacked panels.
// No dependencies; numbers are rounded so files stay small and diffs stable.

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

/** "Nice" axis ticks covering [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  if (Math.abs(v) < 0.01) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

export interface Bar {
  label: string;
  value: number;
  /** Small text above the bar (defaults to the value). */
  note?: string;
  highlight?: boolean;
}

export function barChart(title: string, yLabel: string, bars: Bar[], width = 720, height = 380): string {
  const m = { l: 70, r: 20, t: 40, b: 60 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const max = Math.max(...bars.map((b) => b.value), 0);
  const ticks = niceTicks(max);
  const top = ticks[ticks.length - 1];
  const y = (v: number) => m.t + h - (v / top) * h;
  const bw = (w / Math.max(1, bars.length)) * 0.7;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  for (const t of ticks) {
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${fmt(y(t))}" y2="${fmt(y(t))}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${fmt(y(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
  }
  out.push(`<text transform="translate(16 ${m.t + h / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  bars.forEach((b, i) => {
    const cx = m.l + (w / bars.length) * (i + 0.5);
    const x = cx - bw / 2;
    const yy = y(b.value);
    out.push(
      `<rect x="${fmt(x)}" y="${fmt(yy)}" width="${fmt(bw)}" height="${fmt(m.t + h - yy)}" fill="${b.highlight ? PALETTE[1] : PALETTE[0]}"/>`,
    );
    out.push(
      `<text x="${fmt(cx)}" y="${fmt(yy - 5)}" text-anchor="middle">${esc(b.note ?? tickLabel(b.value))}</text>`,
    );
    out.push(`<text x="${fmt(cx)}" y="${m.t + h + 18}" text-anchor="middle">${esc(b.label)}</text>`);
  });
  out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${m.t + h}" y2="${m.t + h}" stroke="black"/>`);
  out.push("</svg>");
  return out.join("\n");
}

export interface Line {
  label: string;
  /** y values at x = 0, dx, 2dx, ... */
  ys: ArrayLike<number>;
}

export interface Panel {
  yLabel: string;
  lines: Line[];
  /** Fixed top of the y axis (e.g. 1 for shares). */
  yMax?: number;
}

/** Stacked line-chart panels sharing an x axis (x in hours when dx is in seconds and xUnit "h"). */
export function linePanels(
  title: string,
  panels: Panel[],
  dx: number,
  xLabel: string,
  width = 900,
  panelHeight = 170,
): string {
  const m = { l: 70, r: 150, t: 40, b: 45 };
  const w = width - m.l - m.r;
  const gap = 25;
  const height = m.t + panels.length * panelHeight + (panels.length - 1) * gap + m.b;
  const n = Math.max(...panels.flatMap((p) => p.lines.map((l) => l.ys.length)), 1);
  const xMax = (n - 1) * dx || 1;
  const xTicks = niceTicks(xMax, 8);
  const x = (v: number) => m.l + (v / xTicks[xTicks.length - 1]) * w;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${m.l + w / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  panels.forEach((p, pi) => {
    const top = m.t + pi * (panelHeight + gap);
    let max = p.yMax ?? 0;
    if (p.yMax === undefined)
      for (const l of p.lines) for (let i = 0; i < l.ys.length; i++) if (l.ys[i] > max) max = l.ys[i];
    const ticks = p.yMax !== undefined ? niceTicks(p.yMax, 4) : niceTicks(max, 4);
    const yTop = ticks[ticks.length - 1];
    const y = (v: number) => top + panelHeight - (v / yTop) * panelHeight;
    for (const t of ticks) {
      out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${fmt(y(t))}" y2="${fmt(y(t))}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${m.l - 6}" y="${fmt(y(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
    }
    out.push(
      `<text transform="translate(16 ${top + panelHeight / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`,
    );
    p.lines.forEach((l, li) => {
      const pts: string[] = [];
      for (let i = 0; i < l.ys.length; i++) pts.push(`${fmt(x(i * dx))},${fmt(y(Math.min(l.ys[i], yTop)))}`);
      out.push(
        `<polyline fill="none" stroke="${PALETTE[li % PALETTE.length]}" stroke-width="1.2" points="${pts.join(" ")}"/>`,
      );
      out.push(
        `<text x="${m.l + w + 10}" y="${top + 14 + li * 16}" fill="${PALETTE[li % PALETTE.length]}">${esc(l.label)}</text>`,
      );
    });
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${top + panelHeight}" y2="${top + panelHeight}" stroke="black"/>`);
  });
  const base = m.t + panels.length * panelHeight + (panels.length - 1) * gap;
  for (const t of xTicks)
    out.push(`<text x="${fmt(x(t))}" y="${base + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
  out.push(`<text x="${m.l + w / 2}" y="${base + 36}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push("</svg>");
  return out.join("\n");
}

/** Means of consecutive bins of `bin` values. */
export function downsample(ys: ArrayLike<number>, bin: number): Float64Array {
  const n = Math.ceil(ys.length / bin);
  const out = new Float64Array(n);
  for (let b = 0; b < n; b++) {
    let s = 0;
    let c = 0;
    for (let i = b * bin; i < Math.min(ys.length, (b + 1) * bin); i++) {
      s += ys[i];
      c++;
    }
    out[b] = c ? s / c : 0;
  }
  return out;
}
