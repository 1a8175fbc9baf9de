// A closed-loop HTTP/1.1 load client that costs almost nothing per request: requests are serialised
// before the clock starts and each keep-alive connection writes one, reads its response, writes the
// next. fetch() spends more CPU per request than a small server does, and on a 2-core machine that
// would measure the client, not the server.
import { connect, type Socket } from "node:net";

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

export function serialise(host: string, r: RawRequest): Buffer {
  const head = [
    `${r.method} ${r.path} HTTP/1.1`,
    `host: ${host}`,
    "connection: keep-alive",
    `content-length: ${r.body.length}`,
  ]
    .concat(Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`))
    .join("\r\n");
  return Buffer.concat([Buffer.from(head + "\r\n\r\n"), r.body]);
}

/** One response read off a keep-alive socket (Content-Length or chunked bodies). */
function readResponse(socket: Socket, pending: { buf: Buffer }): Promise<number> {
  return new Promise((resolve, reject) => {
    const tryParse = () => {
      const buf = pending.buf;
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return false;
      const head = buf.subarray(0, end).toString("latin1");
      const status = Number(head.slice(9, 12));
      const len = /\r\ncontent-length: *(\d+)/i.exec(head);
      let total: number;
      if (len) total = end + 4 + Number(len[1]);
      else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const last = buf.indexOf("\r\n0\r\n\r\n", end);
        if (last < 0) return false;
        total = last + 7;
      } else total = end + 4;
      if (buf.length < total) return false;
      pending.buf = buf.subarray(total);
      resolve(status);
      return true;
    };
    if (tryParse()) return;
    const onData = (d: Buffer) => {
      pending.buf = pending.buf.length ? Buffer.concat([pending.buf, d]) : d;
      if (tryParse()) cleanup();
    };
    const onClose = () => {
      cleanup();
      reject(new Error("connection closed mid-response"));
    };
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("close", onClose);
    };
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/** Sends every request once over `concurrency` connections; requests/s and the statuses seen. */
export async function rawLoad(
  url: string,
  requests: Buffer[],
  concurrency: number,
): Promise<{ rps: number; statuses: Record<number, number> }> {
  const { hostname, port } = new URL(url);
  const statuses: Record<number, number> = {};
  let next = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: concurrency },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(Number(port), hostname, () => resolve(s));
          s.setNoDelay(true);
          s.once("error", reject);
        }),
    ),
  );
  const t = performance.now();
  await Promise.all(
    sockets.map(async (s) => {
      const pending = { buf: Buffer.alloc(0) };
      while (next < requests.length) {
        const req = requests[next++];
        s.write(req);
        const status = await readResponse(s, pending);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const rps = requests.length / ((performance.now() - t) / 1000);
  sockets.forEach((s) => s.destroy());
  return { rps, statuses };
}
