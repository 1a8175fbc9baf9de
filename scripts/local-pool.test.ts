// The local VM provider's ports: a VM is never placed on a port another program holds (it would exit at
// once, and its replacement would take the same port again).
import { createServer, type RequestListener, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { LocalPool, portFree } from "./local-pool.js";
import { freePort } from "./stack.js";

const listen = (port: number, handler: RequestListener = (_req, res) => res.end()): Promise<Server> =>
  new Promise((resolve) => {
    const s = createServer(handler);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
const close = (s: Server) => new Promise((r) => s.close(r));

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe("the local pool's ports", () => {
  it("portFree: false while a listener holds the port, true once it is closed", async () => {
    const port = await freePort();
    const s = await listen(port);
    expect(await portFree(port)).toBe(false);
    await close(s);
    expect(await portFree(port)).toBe(true);
  });

  it("a VM whose first port another program holds is admitted on the next free one", async () => {
    const held = await freePort();
    const other = await listen(held);
    cleanup.push(() => close(other));
    // The controller's side: record the member set the pool admits before it starts the process.
    const admitted: { id: string; url: string }[][] = [];
    const controller = await listen(0, (req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.method === "PUT") admitted.push(JSON.parse(body).vms);
        res.end("{}");
      });
    });
    cleanup.push(() => close(controller));
    const { port } = controller.address() as { port: number };
    const pool = new LocalPool({
      workerUrl: `http://127.0.0.1:${port}`,
      model: "mnist",
      adminToken: "t",
      signingKey: "k".repeat(64),
      bootDelayS: 0,
      slots: 1,
      queueMs: 0,
      firstPort: held,
      pollIntervalMs: 60_000,
      log: () => {},
    });
    cleanup.push(() => pool.stop());
    await pool.setDesired(1);
    expect(admitted).toHaveLength(1);
    expect(admitted[0]).toHaveLength(1);
    const url = new URL(admitted[0][0].url);
    expect(Number(url.port)).toBeGreaterThan(held);
    expect(pool.members()).toEqual(admitted[0]);
  });
});
