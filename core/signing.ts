// Signed internal calls between the Worker and its VMs: HMAC-SHA256 over method, path, the VM's id,
// timestamp, nonce and the body's SHA-256, under a key of that VM's own.
//
// Identity: the master key (SERFLOW_SIGNING_KEY) stays with the Worker and its controller. Each VM gets
// only vmKey(master, id) from the provider that launched it, so it can sign heartbeats for its own id and
// check calls addressed to it, and nothing else: a frame for VM A is refused by B (other key, other id),
// a heartbeat for A cannot be signed by B, and no VM can sign as the Worker to another VM.
// Headers are checked (present, well formed, fresh) before a body is read; the body after. A call carries
// its body's SHA-256 in a header too, so a VM checks the signature itself before it reads the body (a
// stranger who knows a VM's id cannot make it buffer and hash megabytes), then the body against it.
// WebCrypto is the same global in workerd and Node 20, so this stays runtime-free.
import { UnauthorizedError } from "./errors.js";

export const SIGNATURE_WINDOW_MS = 30_000;
export const H_TIMESTAMP = "x-serflow-timestamp";
export const H_NONCE = "x-serflow-nonce";
export const H_SIGNATURE = "x-serflow-signature";
/** The VM that signed (heartbeat) or that is addressed (deep-stage call); part of what is signed. */
export const H_VM = "x-serflow-vm";
/** The body's SHA-256 (hex), as signed: lets the signature be checked before the body is read. */
export const H_BODY_SHA256 = "x-serflow-content-sha256";
export const VM_ID_PATTERN = /^[\w.-]{1,64}$/;

const enc = new TextEncoder();

/** The two hashes a signature needs. WebCrypto runs everywhere (the Worker); a VM passes node:crypto's,
 *  which are synchronous and several times cheaper per call there. */
export interface SigningHashes {
  sha256Hex(data: Uint8Array): string | Promise<string>;
  hmacSha256Hex(secret: string, message: string): string | Promise<string>;
}

// Keys per secret: a Worker holds one per VM it calls, so the cache is bounded by the registry.
const MAX_CACHED_KEYS = 1024;
const keyCache = new Map<string, Promise<CryptoKey>>();
function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keyCache.get(secret);
  if (!k) {
    if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
    k = crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keyCache.set(secret, k);
  }
  return k;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

export const webCryptoHashes: SigningHashes = {
  sha256Hex: async (data) => hex(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)),
  hmacSha256Hex: async (secret, message) =>
    hex(await crypto.subtle.sign("HMAC", await hmacKey(secret), enc.encode(message))),
};

const derivedCache = new Map<string, Promise<string>>();

/** The key of one VM, derived from the master. Only the Worker, its controller and the provider that
 *  launches the VM compute it; the VM receives it and never sees the master. */
export async function vmKey(master: string, vmId: string, hashes = webCryptoHashes): Promise<string> {
  if (!VM_ID_PATTERN.test(vmId)) throw new UnauthorizedError("VM id must be 1-64 word characters");
  // Derived once per VM and master (a Worker calls the same few VMs on every deep request).
  const cacheKey = `${vmId}\n${master}`;
  let k = derivedCache.get(cacheKey);
  if (!k) {
    if (derivedCache.size >= MAX_CACHED_KEYS) derivedCache.clear();
    k = Promise.resolve(hashes.hmacSha256Hex(master, `serflow-vm-key:v1:${vmId}`));
    derivedCache.set(cacheKey, k);
  }
  return k;
}

async function signature(
  h: SigningHashes,
  key: string,
  method: string,
  path: string,
  vm: string,
  ts: string,
  nonce: string,
  bodySha256: string,
): Promise<string> {
  return h.hmacSha256Hex(key, `${method.toUpperCase()}\n${path}\n${vm}\n${ts}\n${nonce}\n${bodySha256}`);
}

/** Headers for a call signed with `key` (the VM `vm`'s key) that names VM `vm`. */
export async function signRequest(
  key: string,
  vm: string,
  method: string,
  path: string,
  body: Uint8Array,
  nowMs = Date.now(),
  hashes = webCryptoHashes,
): Promise<Record<string, string>> {
  const ts = String(nowMs);
  const nonce = hex(crypto.getRandomValues(new Uint8Array(12)).buffer as ArrayBuffer);
  const bodySha256 = await hashes.sha256Hex(body);
  return {
    [H_VM]: vm,
    [H_TIMESTAMP]: ts,
    [H_NONCE]: nonce,
    [H_BODY_SHA256]: bodySha256,
    [H_SIGNATURE]: await signature(hashes, key, method, path, vm, ts, nonce, bodySha256),
  };
}

/** What a signed request's headers claim, checked for presence, form and freshness (no body needed). */
export interface SignatureHeaders {
  vm: string;
  ts: string;
  nonce: string;
  sig: string;
  /** The body's SHA-256 the caller signed, if it sent one (every signer here does). */
  bodySha256: string | null;
  timestampMs: number;
}

/** Refuses a request whose signature headers are missing, malformed or stale: call before reading a body. */
export function signatureHeaders(headers: { get(name: string): string | null }, nowMs = Date.now()): SignatureHeaders {
  const vm = headers.get(H_VM);
  const ts = headers.get(H_TIMESTAMP);
  const nonce = headers.get(H_NONCE);
  const sig = headers.get(H_SIGNATURE);
  if (!vm || !ts || !nonce || !sig) throw new UnauthorizedError("missing request signature");
  if (!VM_ID_PATTERN.test(vm)) throw new UnauthorizedError("malformed request signature: bad VM id");
  if (!/^[0-9a-f]{8,64}$/.test(nonce)) throw new UnauthorizedError("malformed request signature: bad nonce");
  if (!/^[0-9a-f]{64}$/.test(sig)) throw new UnauthorizedError("malformed request signature");
  const bodySha256 = headers.get(H_BODY_SHA256);
  if (bodySha256 !== null && !/^[0-9a-f]{64}$/.test(bodySha256))
    throw new UnauthorizedError("malformed request signature: bad body hash");
  const t = Number(ts);
  if (!Number.isFinite(t) || Math.abs(nowMs - t) > SIGNATURE_WINDOW_MS)
    throw new UnauthorizedError("request signature expired or from the future");
  return { vm, ts, nonce, sig, bodySha256, timestampMs: t };
}

/** Remembers nonces seen within the window so a captured request cannot be replayed (one process). */
export class ReplayGuard {
  private seen = new Map<string, number>();
  private prunedAtMs = 0;
  check(nonce: string, nowMs: number): boolean {
    // Forget nonces older than twice the window (their timestamps are refused anyway), once a second.
    if (nowMs - this.prunedAtMs > 1_000) {
      this.prunedAtMs = nowMs;
      for (const [n, t] of this.seen) {
        if (nowMs - t <= 2 * SIGNATURE_WINDOW_MS) break; // insertion order is time order
        this.seen.delete(n);
      }
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, nowMs);
    return true;
  }
}

/**
 * Checks the signature over the headers alone, with the body hash they carry (required): call before
 * reading a body that may be large; verifySignature then checks the body against that hash.
 */
export async function verifyHeaders(
  key: string,
  method: string,
  path: string,
  h: SignatureHeaders,
  hashes = webCryptoHashes,
): Promise<void> {
  if (h.bodySha256 === null) throw new UnauthorizedError("missing request signature: no body hash");
  const want = await signature(hashes, key, method, path, h.vm, h.ts, h.nonce, h.bodySha256);
  if (!constantTimeEqual(h.sig, want)) throw new UnauthorizedError("bad request signature");
}

/** Checks the body against headers already checked by signatureHeaders; `guard` refuses replays. */
export async function verifySignature(
  key: string,
  method: string,
  path: string,
  body: Uint8Array,
  h: SignatureHeaders,
  guard: ReplayGuard | null,
  nowMs = Date.now(),
  hashes = webCryptoHashes,
): Promise<void> {
  const bodySha256 = await hashes.sha256Hex(body);
  if (h.bodySha256 !== null && h.bodySha256 !== bodySha256)
    throw new UnauthorizedError("bad request signature: the body is not the one signed");
  const want = await signature(hashes, key, method, path, h.vm, h.ts, h.nonce, bodySha256);
  if (!constantTimeEqual(h.sig, want)) throw new UnauthorizedError("bad request signature");
  if (guard && !guard.check(h.nonce, nowMs)) throw new UnauthorizedError("replayed request");
}

/** signatureHeaders + verifySignature, for a caller that already holds the body. */
export async function verifyRequest(
  key: string,
  method: string,
  path: string,
  body: Uint8Array,
  headers: { get(name: string): string | null },
  guard: ReplayGuard | null,
  nowMs = Date.now(),
  hashes = webCryptoHashes,
): Promise<SignatureHeaders> {
  const h = signatureHeaders(headers, nowMs);
  await verifySignature(key, method, path, body, h, guard, nowMs, hashes);
  return h;
}

/** Equal-length strings (hex digests) compared without an early exit. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

type SubtleWithTimingSafeEqual = SubtleCrypto & { timingSafeEqual?(a: ArrayBuffer, b: ArrayBuffer): boolean };

/** Compares a bearer token through SHA-256 digests (same length whatever the token's), with workerd's
 *  crypto.subtle.timingSafeEqual where it exists (Node's WebCrypto lacks it: a constant-time loop). */
export async function tokenEquals(given: string, expected: string): Promise<boolean> {
  if (!expected) return false;
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(given)),
    crypto.subtle.digest("SHA-256", enc.encode(expected)),
  ]);
  const subtle = crypto.subtle as SubtleWithTimingSafeEqual;
  if (typeof subtle.timingSafeEqual === "function") return subtle.timingSafeEqual(a, b);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
