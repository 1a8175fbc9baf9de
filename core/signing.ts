// Signed internal calls (Worker -> VM, VM -> controller): HMAC-SHA256 over method, path, timestamp,
// nonce and the body's SHA-256. A signature older than the window, tampered or replayed is refused.
// WebCrypto is the same global in workerd and Node 20, so this stays runtime-free.
import { UnauthorizedError } from "./errors.js";

export const SIGNATURE_WINDOW_MS = 30_000;
export const H_TIMESTAMP = "x-serflow-timestamp";
export const H_NONCE = "x-serflow-nonce";
export const H_SIGNATURE = "x-serflow-signature";

const enc = new TextEncoder();

/** The two hashes a signature needs. WebCrypto runs everywhere (the Worker); a VM passes node:crypto's,
 *  which are synchronous and several times cheaper per call there. */
export interface SigningHashes {
  sha256Hex(data: Uint8Array): string | Promise<string>;
  hmacSha256Hex(secret: string, message: string): string | Promise<string>;
}

const keyCache = new Map<string, Promise<CryptoKey>>();
function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keyCache.get(secret);
  if (!k) {
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

async function signature(
  h: SigningHashes,
  secret: string,
  method: string,
  path: string,
  ts: string,
  nonce: string,
  body: Uint8Array,
): Promise<string> {
  return h.hmacSha256Hex(secret, `${method.toUpperCase()}\n${path}\n${ts}\n${nonce}\n${await h.sha256Hex(body)}`);
}

export async function signRequest(
  secret: string,
  method: string,
  path: string,
  body: Uint8Array,
  nowMs = Date.now(),
  hashes = webCryptoHashes,
): Promise<Record<string, string>> {
  const ts = String(nowMs);
  const nonce = hex(crypto.getRandomValues(new Uint8Array(12)).buffer as ArrayBuffer);
  return {
    [H_TIMESTAMP]: ts,
    [H_NONCE]: nonce,
    [H_SIGNATURE]: await signature(hashes, secret, method, path, ts, nonce, body),
  };
}

/** Remembers nonces seen within the window so a captured request cannot be replayed. */
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

export async function verifyRequest(
  secret: string,
  method: string,
  path: string,
  body: Uint8Array,
  headers: { get(name: string): string | null },
  guard: ReplayGuard | null,
  nowMs = Date.now(),
  hashes = webCryptoHashes,
): Promise<void> {
  const ts = headers.get(H_TIMESTAMP);
  const nonce = headers.get(H_NONCE);
  const sig = headers.get(H_SIGNATURE);
  if (!ts || !nonce || !sig) throw new UnauthorizedError("missing request signature");
  const t = Number(ts);
  if (!Number.isFinite(t) || Math.abs(nowMs - t) > SIGNATURE_WINDOW_MS)
    throw new UnauthorizedError("request signature expired or from the future");
  if (!/^[0-9a-f]{64}$/.test(sig)) throw new UnauthorizedError("malformed request signature");
  // tokenEquals compares in constant time.
  const ok = tokenEquals(sig, await signature(hashes, secret, method, path, ts, nonce, body));
  if (!ok) throw new UnauthorizedError("bad request signature");
  if (guard && !guard.check(nonce, nowMs)) throw new UnauthorizedError("replayed request");
}

/** Constant-time comparison of a bearer token. */
export function tokenEquals(given: string, expected: string): boolean {
  const a = enc.encode(given);
  const b = enc.encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i % a.length] ?? 0) ^ (b[i % b.length] ?? 0);
  return diff === 0 && expected.length > 0;
}
