// node:crypto's hashes for request signing on a VM: synchronous, and far cheaper per call than
// WebCrypto's (which hops to a thread pool), on the path every deep-stage request takes.
import { createHash, createHmac } from "node:crypto";
import type { SigningHashes } from "../core/signing.js";

export const nodeHashes: SigningHashes = {
  sha256Hex: (data) => createHash("sha256").update(data).digest("hex"),
  hmacSha256Hex: (secret, message) => createHmac("sha256", secret).update(message).digest("hex"),
};
