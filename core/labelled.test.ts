// Labelled sample files: each of the three encodings decodes to the same rows, and a file whose row count,
// byte count or indices do not fit the model's row size is refused with a message naming the mismatch.
import { describe, expect, it } from "vitest";
import { decodeLabelled } from "./labelled.js";

const errorOf = (raw: unknown, rowSize = 3): string => {
  try {
    decodeLabelled(raw, rowSize, "sample.json");
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("no error");
};

// Two rows of three: [1, 0, 0.5] and [0, 1, 0].
const rows = [1, 0, 0.5, 0, 1, 0];

describe("decodeLabelled", () => {
  it("dense, sparse and base64 pixels decode to the same rows", () => {
    const dense = decodeLabelled({ labels: [0, 1], data: rows }, 3);
    expect(dense.labels).toEqual([0, 1]);
    expect([...dense.data]).toEqual(rows);
    const sparse = decodeLabelled({ labels: [0, 1], indices: [[0, 2], [1]], values: [[1, 0.5], [1]] }, 3);
    expect([...sparse.data]).toEqual(rows);
    // Bytes / 255: 255 -> 1, 0 -> 0; 0.5 has no exact byte, so the pixel rows use 51 (0.2).
    const px = decodeLabelled({ labels: [0, 1], pixels_b64: btoa(String.fromCharCode(255, 0, 51, 0, 255, 0)) }, 3);
    expect([...px.data]).toEqual([1, 0, 0.2, 0, 1, 0].map(Math.fround));
  });

  it("sparse values default to 1 and unnamed positions are 0", () => {
    expect([...decodeLabelled({ labels: [3], indices: [[2, 0]] }, 4).data]).toEqual([1, 0, 1, 0]);
  });

  it("dense data must hold exactly rows x rowSize numbers: one more or one less is refused", () => {
    expect(errorOf({ labels: [0, 1], data: [...rows, 0] })).toBe(
      'sample.json: "data" holds 7 numbers; 2 rows of 3 need 6',
    );
    expect(errorOf({ labels: [0, 1], data: rows.slice(1) })).toBe(
      'sample.json: "data" holds 5 numbers; 2 rows of 3 need 6',
    );
  });

  it("base64 pixels must be exactly rows x rowSize bytes: one more or one less is refused", () => {
    const bytes = (k: number) => btoa("\x01".repeat(k));
    expect(decodeLabelled({ labels: [0, 1], pixels_b64: bytes(6) }, 3).data).toHaveLength(6);
    expect(errorOf({ labels: [0, 1], pixels_b64: bytes(7) })).toBe("sample.json: 7 pixel bytes for 2 rows of 3");
    expect(errorOf({ labels: [0, 1], pixels_b64: bytes(5) })).toBe("sample.json: 5 pixel bytes for 2 rows of 3");
  });

  it("sparse indices: one row per label, each index in 0..rowSize-1", () => {
    expect([...decodeLabelled({ labels: [0], indices: [[0, 2]] }, 3).data]).toEqual([1, 0, 1]); // both ends
    expect(errorOf({ labels: [0, 1], indices: [[0]] })).toBe('sample.json: "indices" has 1 rows for 2 labels');
    expect(errorOf({ labels: [0], indices: [[0], [1]] })).toBe('sample.json: "indices" has 2 rows for 1 labels');
    expect(errorOf({ labels: [0, 1], indices: [[0], [3]] })).toBe("sample.json: indices[1] holds 3, outside 0..2");
    expect(errorOf({ labels: [0], indices: [[-1]] })).toBe("sample.json: indices[0] holds -1, outside 0..2");
    expect(errorOf({ labels: [0], indices: [[1.5]] })).toBe("sample.json: indices[0] holds 1.5, outside 0..2");
  });

  it("labels are non-negative whole numbers (0 included)", () => {
    expect(decodeLabelled({ labels: [0], data: [1, 2, 3] }, 3).labels).toEqual([0]);
    for (const labels of [[-1], [0.5], ["1"], "0", undefined])
      expect(errorOf({ labels, data: [1, 2, 3] })).toBe('sample.json: "labels" must be an array of class indices');
    // A bad label after good ones is still found.
    expect(errorOf({ labels: [0, 1, -1], data: Array(9).fill(0) })).toContain('"labels"');
  });

  it("refuses what is not an object, has no rows, or holds a non-finite value", () => {
    expect(errorOf(null)).toBe("sample.json: must be a JSON object");
    expect(errorOf("[]")).toBe("sample.json: must be a JSON object");
    expect(errorOf({ labels: [0] })).toBe('sample.json: needs "data", "indices" or "pixels_b64" beside "labels"');
    expect(errorOf({ labels: [0], pixels_b64: 7 })).toContain('needs "data"');
    // 1e400 is Infinity after JSON.parse; a string is NaN in a Float32Array.
    expect(errorOf(JSON.parse('{"labels":[0],"data":[1,1e400,0]}'))).toBe("sample.json: holds a non-finite value");
    expect(errorOf({ labels: [0], indices: [[1]], values: [["x"]] })).toBe("sample.json: holds a non-finite value");
  });

  it("names the default source when none is given", () => {
    expect(() => decodeLabelled(null, 3)).toThrow("labelled data: must be a JSON object");
  });
});
