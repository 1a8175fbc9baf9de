// Labelled sample files (model:check, model:profile, model:calibrate): rows of a model's input with the
// expected class. Runtime-free. Three encodings, all JSON with `labels` (one class index per row):
//   dense   {"labels":[...], "data":[row-major numbers]}
//   sparse  {"labels":[...], "indices":[[i,...],...], "values"?:[[v,...],...]}  (values default to 1)
//   mnist's held-out digits {"labels":[...], "pixels_b64":"..."} (bytes / 255)
export interface Labelled {
  labels: number[];
  /** Row-major, labels.length rows of `rowSize` numbers. */
  data: Float32Array;
}

export function decodeLabelled(raw: unknown, rowSize: number, source = "labelled data"): Labelled {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (typeof raw !== "object" || raw === null) fail("must be a JSON object");
  const j = raw as Record<string, unknown>;
  if (!Array.isArray(j.labels) || !j.labels.every((l) => Number.isInteger(l) && l >= 0))
    fail(`"labels" must be an array of class indices`);
  const labels = j.labels as number[];
  const n = labels.length;
  const data = new Float32Array(n * rowSize);
  if (Array.isArray(j.data)) {
    if (j.data.length !== n * rowSize)
      fail(`"data" holds ${j.data.length} numbers; ${n} rows of ${rowSize} need ${n * rowSize}`);
    data.set(j.data as number[]);
  } else if (Array.isArray(j.indices)) {
    const idx = j.indices as number[][];
    const vals = j.values as number[][] | undefined;
    if (idx.length !== n) fail(`"indices" has ${idx.length} rows for ${n} labels`);
    idx.forEach((row, r) =>
      row.forEach((i, k) => {
        if (!(Number.isInteger(i) && i >= 0 && i < rowSize))
          fail(`indices[${r}] holds ${i}, outside 0..${rowSize - 1}`);
        data[r * rowSize + i] = vals ? vals[r][k] : 1;
      }),
    );
  } else if (typeof j.pixels_b64 === "string") {
    const bin = atob(j.pixels_b64);
    if (bin.length !== n * rowSize) fail(`${bin.length} pixel bytes for ${n} rows of ${rowSize}`);
    for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i) / 255;
  } else fail(`needs "data", "indices" or "pixels_b64" beside "labels"`);
  if (!data.every(Number.isFinite)) fail("holds a non-finite value");
  return { labels, data };
}
