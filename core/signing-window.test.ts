// The time rules of signed internal calls: a signature is good for SIGNATURE_WINDOW_MS either side of
// its timestamp (clocks drift both ways), never far in the future, and its nonce is remembered as long
// as its timestamp could still pass.
import { describe, expect, it } from "vitest";
import { asHeaders, SIGNED_BODY as body } from "./fixtures.js";
import {
  H_NONCE,
  H_SIGNATURE,
  H_TIMESTAMP,
  ReplayGuard,
  H_VM,
  SIGNATURE_WINDOW_MS,
  signatureHeaders,
  signRequest,
  tokenEquals,
  verifyRequest,
  vmKey,
} from "./signing.js";

const T = 1_700_000_000_000;
const verifyAt = (h: Record<string, string>, nowMs: number, guard: ReplayGuard | null = null) =>
  verifyRequest("k", "POST", "/p", body, asHeaders(h), guard, nowMs);

describe("signature window", () => {
  it("accepts a timestamp exactly one window old or one window ahead, and refuses one ms more", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, T);
    await expect(verifyAt(h, T + SIGNATURE_WINDOW_MS)).resolves.toMatchObject({ vm: "vm-a" });
    await expect(verifyAt(h, T - SIGNATURE_WINDOW_MS)).resolves.toMatchObject({ vm: "vm-a" });
    await expect(verifyAt(h, T + SIGNATURE_WINDOW_MS + 1)).rejects.toThrow(/expired or from the future/);
    await expect(verifyAt(h, T - SIGNATURE_WINDOW_MS - 1)).rejects.toThrow(/expired or from the future/);
  });

  it("refuses a signature dated far in the future, however valid its HMAC", async () => {
    for (const ahead of [SIGNATURE_WINDOW_MS + 1, 3_600_000, 365 * 86_400_000]) {
      const h = await signRequest("k", "vm-a", "POST", "/p", body, T + ahead);
      await expect(verifyAt(h, T)).rejects.toThrow(/from the future/);
    }
  });

  it("refuses a timestamp that is not a finite number", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, T);
    for (const ts of ["soon", "1e400", "NaN", "0x"])
      await expect(verifyAt({ ...h, [H_TIMESTAMP]: ts }, T)).rejects.toThrow(/expired or from the future/);
  });

  it("signs the timestamp and the nonce: moving either breaks the signature", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, T);
    await expect(verifyAt({ ...h, [H_TIMESTAMP]: String(T + 1) }, T)).rejects.toThrow(/bad request signature/);
    await expect(verifyAt({ ...h, [H_NONCE]: `${h[H_NONCE]}0` }, T)).rejects.toThrow(/bad request signature/);
  });

  it("gives each signature its own nonce", async () => {
    const a = await signRequest("k", "vm-a", "POST", "/p", body, T);
    const b = await signRequest("k", "vm-a", "POST", "/p", body, T);
    expect(a[H_NONCE]).toMatch(/^[0-9a-f]{24}$/);
    expect(a[H_NONCE]).not.toBe(b[H_NONCE]);
  });

  it("the method is compared without case", async () => {
    const h = await signRequest("k", "vm-a", "post", "/p", body, T);
    await expect(verifyAt(h, T)).resolves.toMatchObject({ vm: "vm-a" });
  });
});

describe("replay guard", () => {
  it("refuses a nonce seen before for as long as its timestamp could pass (two windows)", () => {
    const g = new ReplayGuard();
    expect(g.check("n1", T)).toBe(true);
    expect(g.check("n1", T + 1)).toBe(false);
    // Pruning runs at most once a second and keeps everything up to two windows old.
    expect(g.check("n2", T + 2_000)).toBe(true);
    expect(g.check("n1", T + 2 * SIGNATURE_WINDOW_MS)).toBe(false);
    expect(g.check("n2", T + 2 * SIGNATURE_WINDOW_MS + 2_000)).toBe(false);
  });

  it("forgets nonces older than two windows (their timestamps are refused anyway), only those", () => {
    const g = new ReplayGuard();
    g.check("old", T);
    g.check("newer", T + 10_000);
    const later = T + 2 * SIGNATURE_WINDOW_MS + 5_000;
    expect(g.check("fresh", later)).toBe(true); // prunes "old", keeps "newer"
    expect(g.check("old", later + 1)).toBe(true);
    expect(g.check("newer", later + 1)).toBe(false);
  });

  it("a replay inside the window is refused by verifyRequest, after the first use passes", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, T);
    const g = new ReplayGuard();
    await expect(verifyAt(h, T + 10, g)).resolves.toMatchObject({ vm: "vm-a" });
    await expect(verifyAt(h, T + SIGNATURE_WINDOW_MS, g)).rejects.toThrow(/replayed/);
  });

  it("a bad signature does not use up its nonce", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, T);
    const g = new ReplayGuard();
    await expect(verifyRequest("wrong", "POST", "/p", body, asHeaders(h), g, T)).rejects.toThrow(/bad/);
    await expect(verifyAt(h, T, g)).resolves.toMatchObject({ vm: "vm-a" });
  });

  it("the signed string is METHOD, path, VM id, timestamp, nonce and the body's SHA-256, one per line", async () => {
    const h = await signRequest("k", "vm-a", "post", "/p", body, T);
    const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
    const bodyHash = hex(await crypto.subtle.digest("SHA-256", body));
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode("k"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const message = `POST\n/p\nvm-a\n${T}\n${h[H_NONCE]}\n${bodyHash}`;
    expect(h[H_SIGNATURE]).toBe(hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message))));
  });

  it("refuses a request missing any one of the three headers, or a signature with anything around its 64 hex digits", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, T);
    for (const missing of [H_TIMESTAMP, H_NONCE, H_SIGNATURE]) {
      const { [missing]: _, ...rest } = h;
      await expect(verifyAt(rest, T)).rejects.toThrow(/missing request signature/);
    }
    for (const sig of [`${h[H_SIGNATURE]}0`, `0${h[H_SIGNATURE]}`, h[H_SIGNATURE].toUpperCase()])
      await expect(verifyAt({ ...h, [H_SIGNATURE]: sig }, T)).rejects.toThrow(/malformed request signature/);
  });
});

describe("token comparison", () => {
  it("is true only for the same non-empty string, whatever the lengths", async () => {
    expect(await tokenEquals("secret", "secret")).toBe(true);
    for (const given of ["secret0", "secre", "", "Secret", "secreu", "secretsecret"])
      expect(await tokenEquals(given, "secret")).toBe(false);
    expect(await tokenEquals("a", "")).toBe(false);
  });
});

describe("signature header forms", () => {
  const good = { [H_VM]: "vm-a", [H_TIMESTAMP]: String(T), [H_NONCE]: "0".repeat(8), [H_SIGNATURE]: "a".repeat(64) };
  const form = (over: Record<string, string>) => () => signatureHeaders(asHeaders({ ...good, ...over }), T);

  it("a nonce is 8 to 64 lowercase hex digits", () => {
    for (const nonce of ["0".repeat(8), "f".repeat(64)]) expect(form({ [H_NONCE]: nonce })().nonce).toBe(nonce);
    for (const nonce of ["0".repeat(7), "0".repeat(65), "ABCDEF01", "0000000g", " 00000000"])
      expect(form({ [H_NONCE]: nonce })).toThrow("malformed request signature: bad nonce");
  });

  it("a VM id is 1-64 word characters, for a signature and for a derived key", async () => {
    expect(form({ [H_VM]: "x".repeat(64) })().vm).toBe("x".repeat(64));
    for (const vm of ["x".repeat(65), "a b", "vm/1"])
      expect(form({ [H_VM]: vm })).toThrow("malformed request signature: bad VM id");
    await expect(vmKey("master", "a b")).rejects.toThrow("VM id must be 1-64 word characters");
    await expect(vmKey("master", "")).rejects.toThrow("VM id must be 1-64 word characters");
  });
});
