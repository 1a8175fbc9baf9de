// Held-out test digits, stored compactly (base64 of 0..255 pixels). Runtime-free: the Workers tests
// import the JSON and decode it here.
export interface HeldoutJson {
  labels: number[];
  pixels_b64: string;
}

export function encodeHeldout(labels: number[], pixels01: Float32Array): HeldoutJson {
  const bytes = new Uint8Array(pixels01.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, pixels01[i])) * 255);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { labels, pixels_b64: btoa(bin) };
}

/** Rows of 784 pixels in [0, 1]. */
export function decodeHeldout(h: HeldoutJson): { labels: number[]; rows: Float32Array[] } {
  const bin = atob(h.pixels_b64);
  const rows: Float32Array[] = [];
  for (let r = 0; r < h.labels.length; r++) {
    const row = new Float32Array(784);
    for (let i = 0; i < 784; i++) row[i] = bin.charCodeAt(r * 784 + i) / 255;
    rows.push(row);
  }
  return { labels: h.labels, rows };
}
