import { describe, expect, it } from "vitest";
import { ReplayGuard, signRequest, tokenEquals, verifyRequest, H_SIGNATURE, SIGNATURE_WINDOW_MS } from "./signing.js";

const body = new TextEncoder().encode("payload");
const asHeaders = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? null });

describe("signed requests", () => {
  it("accepts a fresh signature once and refuses its replay", async () => {
    const h = await signRequest("k", "POST", "/p", body, 1_000_000);
    const guard = new ReplayGuard();
    await expect(verifyRequest("k", "POST", "/p", body, asHeaders(h), guard, 1_000_500)).resolves.toBeUndefined();
    await expect(verifyRequest("k", "POST", "/p", body, asHeaders(h), guard, 1_000_600)).rejects.toThrow(/replayed/);
  });
  it("refuses a wrong key, a tampered body or path, an old timestamp, no signature", async () => {
    const h = await signRequest("k", "POST", "/p", body, 1_000_000);
    await expect(verifyRequest("other", "POST", "/p", body, asHeaders(h), null, 1_000_000)).rejects.toThrow(
      /bad request signature/,
    );
    await expect(
      verifyRequest("k", "POST", "/p", new TextEncoder().encode("payloaD"), asHeaders(h), null, 1_000_000),
    ).rejects.toThrow(/bad/);
    await expect(verifyRequest("k", "POST", "/q", body, asHeaders(h), null, 1_000_000)).rejects.toThrow(/bad/);
    await expect(
      verifyRequest("k", "POST", "/p", body, asHeaders(h), null, 1_000_000 + SIGNATURE_WINDOW_MS + 1),
    ).rejects.toThrow(/expired/);
    await expect(
      verifyRequest("k", "POST", "/p", body, asHeaders({ ...h, [H_SIGNATURE]: "zz" }), null, 1_000_000),
    ).rejects.toThrow(/malformed/);
    await expect(verifyRequest("k", "POST", "/p", body, asHeaders({}), null, 1_000_000)).rejects.toThrow(/missing/);
  });
  it("compares tokens exactly", () => {
    expect(tokenEquals("abc", "abc")).toBe(true);
    expect(tokenEquals("abd", "abc")).toBe(false);
    expect(tokenEquals("ab", "abc")).toBe(false);
    expect(tokenEquals("", "")).toBe(false);
  });
});
