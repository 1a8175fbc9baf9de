import { describe, expect, it } from "vitest";
import { asHeaders, SIGNED_BODY as body } from "./fixtures.js";
import {
  H_BODY_SHA256,
  H_SIGNATURE,
  H_VM,
  ReplayGuard,
  SIGNATURE_WINDOW_MS,
  signatureHeaders,
  signRequest,
  tokenEquals,
  verifyHeaders,
  verifyRequest,
  verifySignature,
  vmKey,
  webCryptoHashes,
} from "./signing.js";

describe("signed requests", () => {
  it("accepts a fresh signature once and refuses its replay", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, 1_000_000);
    const guard = new ReplayGuard();
    await expect(verifyRequest("k", "POST", "/p", body, asHeaders(h), guard, 1_000_500)).resolves.toMatchObject({
      vm: "vm-a",
    });
    await expect(verifyRequest("k", "POST", "/p", body, asHeaders(h), guard, 1_000_600)).rejects.toThrow(/replayed/);
  });
  it("refuses a wrong key, a tampered body, path or VM, an old timestamp, no signature", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, 1_000_000);
    const at = (headers: Record<string, string>, b = body, path = "/p", key = "k", now = 1_000_000) =>
      verifyRequest(key, "POST", path, b, asHeaders(headers), null, now);
    await expect(at(h, body, "/p", "other")).rejects.toThrow(/bad request signature/);
    await expect(at(h, new TextEncoder().encode("payloaD"))).rejects.toThrow(/bad/);
    await expect(at(h, body, "/q")).rejects.toThrow(/bad/);
    await expect(at({ ...h, [H_VM]: "vm-b" })).rejects.toThrow(/bad/);
    await expect(at(h, body, "/p", "k", 1_000_000 + SIGNATURE_WINDOW_MS + 1)).rejects.toThrow(/expired/);
    await expect(at({ ...h, [H_SIGNATURE]: "zz" })).rejects.toThrow(/malformed/);
    await expect(at({ ...h, [H_VM]: "../x" })).rejects.toThrow(/bad VM id/);
    await expect(at({})).rejects.toThrow(/missing/);
  });
  it("checks headers without the body: missing or stale ones are refused before anything is read", () => {
    expect(() => signatureHeaders(asHeaders({}))).toThrow(/missing/);
    expect(() =>
      signatureHeaders(
        asHeaders({
          [H_VM]: "a",
          "x-serflow-timestamp": "1",
          "x-serflow-nonce": "00ff00ff",
          [H_SIGNATURE]: "a".repeat(64),
        }),
        1_000_000,
      ),
    ).toThrow(/expired/);
  });
  it("checks the signature before the body, over the body hash the headers carry; then the body against it", async () => {
    const h = await signRequest("k", "vm-a", "POST", "/p", body, 1_000_000);
    expect(h[H_BODY_SHA256]).toBe(await webCryptoHashes.sha256Hex(body));
    const parsed = (headers: Record<string, string>) => signatureHeaders(asHeaders(headers), 1_000_000);
    await expect(verifyHeaders("k", "POST", "/p", parsed(h))).resolves.toBeUndefined();
    await expect(verifyHeaders("other", "POST", "/p", parsed(h))).rejects.toThrow(/^bad request signature$/);
    // Another body's hash under the same signature: the signature covers the hash.
    const other = await webCryptoHashes.sha256Hex(new TextEncoder().encode("payloaD"));
    await expect(verifyHeaders("k", "POST", "/p", parsed({ ...h, [H_BODY_SHA256]: other }))).rejects.toThrow(
      /^bad request signature$/,
    );
    const { [H_BODY_SHA256]: _, ...noHash } = h;
    await expect(verifyHeaders("k", "POST", "/p", parsed(noHash))).rejects.toThrow(/no body hash/);
    expect(() => parsed({ ...h, [H_BODY_SHA256]: "xyz" })).toThrow(/bad body hash/);
    // The body read afterwards must be the one hashed; without the header the body alone is checked.
    const tampered = new TextEncoder().encode("payloaD");
    await expect(verifySignature("k", "POST", "/p", tampered, parsed(h), null, 1_000_000)).rejects.toThrow(
      /the body is not the one signed/,
    );
    await expect(verifySignature("k", "POST", "/p", body, parsed(noHash), null, 1_000_000)).resolves.toBeUndefined();
  });
  it("derives one key per VM: a frame signed for A does not verify as B's, B cannot sign for A", async () => {
    const [a, b] = await Promise.all([vmKey("master", "vm-a"), vmKey("master", "vm-b")]);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
    expect(await vmKey("master", "vm-a")).toBe(a);
    expect(await vmKey("other-master", "vm-a")).not.toBe(a);
    const forA = await signRequest(a, "vm-a", "POST", "/p", body);
    await expect(verifyRequest(b, "POST", "/p", body, asHeaders(forA), null)).rejects.toThrow(/bad/);
    const bAsA = await signRequest(b, "vm-a", "POST", "/p", body);
    await expect(verifyRequest(a, "POST", "/p", body, asHeaders(bAsA), null)).rejects.toThrow(/bad/);
  });
  it("compares tokens through digests", async () => {
    expect(await tokenEquals("abc", "abc")).toBe(true);
    expect(await tokenEquals("abd", "abc")).toBe(false);
    expect(await tokenEquals("ab", "abc")).toBe(false);
    expect(await tokenEquals("abc".repeat(1000), "abc")).toBe(false);
    expect(await tokenEquals("", "")).toBe(false);
  });
});
