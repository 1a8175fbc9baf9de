// Held-out test digits, stored compactly as base64 of 0..255 pixel bytes. Runtime-free (no node:*
// imports): the Workers tests import the JSON and decode it with this.
export interface HeldoutJson {
  labels: number[];
  pixels_b64: string;
}

export function encodeHeldout(labels: number[], pixels: Uint8Array): HeldoutJson {
  let bin = "";
  for (let i = 0; i < pixels.length; i += 0x8000) bin += String.fromCharCode(...pixels.subarray(i, i + 0x8000));
  return { labels, pixels_b64: btoa(bin) };
}

/** Rows of 784 pixels in [0, 1] (byte / 255, exactly what the model was trained and measured on). */
export function decodeHeldout(h: HeldoutJson): { labels: number[]; rows: Float32Array[] } {
  const bin = atob(h.pixels_b64);
  if (bin.length !== h.labels.length * 784)
    throw new Error(`heldout: ${bin.length} pixel bytes for ${h.labels.length} labels`);
  const rows = h.labels.map((_, r) => {
    const row = new Float32Array(784);
    for (let i = 0; i < 784; i++) row[i] = bin.charCodeAt(r * 784 + i) / 255;
    return row;
  });
  return { labels: h.labels, rows };
}
