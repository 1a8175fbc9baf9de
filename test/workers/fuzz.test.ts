// Property-based: malformed and hostile Open Inference Protocol requests never get a 5xx or crash the
// Worker, always get a JSON error that says something, and valid requests keep being served meanwhile.
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import heldout from "../../models/mnist/heldout.json";
import { decodeHeldout } from "../../model/heldout-codec.js";

const ex = exports as any;
const { labels, rows } = decodeHeldout(heldout as any);
const post = (body: string, path = "/v2/models/mnist/infer", headers: Record<string, string> = {}) =>
  ex.default.fetch(new Request(`http://serflow${path}`, { method: "POST", body, headers })) as Promise<Response>;

const jsonValue = fc.jsonValue({ maxDepth: 4 });
const hostileTensor = fc.record(
  {
    name: fc.oneof(fc.constant("input"), fc.string(), jsonValue),
    shape: fc.oneof(
      fc.constant([1, 784]),
      fc.array(fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.double(), fc.string()), { maxLength: 4 }),
      jsonValue,
    ),
    datatype: fc.oneof(fc.constant("FP32"), fc.constantFrom("FP16", "INT64", "BYTES", ""), jsonValue),
    data: fc.oneof(
      fc.array(fc.double(), { maxLength: 800 }),
      fc.array(fc.oneof(fc.double(), fc.string(), fc.constant(null), fc.array(fc.double(), { maxLength: 3 })), {
        maxLength: 50,
      }),
      jsonValue,
    ),
  },
  { requiredKeys: [] },
);
const hostileBody = fc.oneof(
  fc
    .record(
      {
        inputs: fc.oneof(fc.array(hostileTensor, { maxLength: 3 }), jsonValue),
        parameters: fc.oneof(
          jsonValue,
          fc.record({ exit_threshold: jsonValue, serflow_force: jsonValue }, { requiredKeys: [] }),
        ),
        id: jsonValue,
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  jsonValue.map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => String.fromCharCode(...b)),
);

async function validStillServed(i: number): Promise<void> {
  const res = await post(
    JSON.stringify({
      inputs: [{ name: "input", shape: [1, 784], datatype: "FP32", data: Array.from(rows[i]) }],
      parameters: { exit_threshold: 1 },
    }),
  );
  expect(res.status).toBe(200);
  const out = (await res.json()) as any;
  expect(out.outputs[2].data).toEqual([2]);
  expect(typeof out.outputs[1].data[0]).toBe("number");
}

describe("hostile input to the Worker", () => {
  it("never a 5xx, always a JSON error, valid requests still served", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(hostileBody, async (body) => {
        const res = await post(body);
        expect(res.status).toBeLessThan(500);
        if (res.status !== 200) {
          const err = (await res.json()) as any;
          expect(typeof err.error).toBe("string");
          expect(err.error.length).toBeGreaterThan(5);
        } else await res.arrayBuffer();
        if (++n % 25 === 0) await validStillServed(n % labels.length);
      }),
      { numRuns: 150, seed: 42 },
    );
    await validStillServed(0);
  });

  it("hostile headers, paths and methods on admin and internal endpoints: 4xx JSON, never a crash", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          "/v2/models/mnist/stats",
          "/v2/models/mnist/plan",
          "/metrics",
          "/internal/v1/vms/mnist/heartbeat",
          "/internal/v1/vms/mnist/deregister",
          "/internal/v1/vms/mnist/members",
          "/dashboard?token=x",
          "/v2/models/%00/infer",
          "/v2/models/../../etc/infer",
        ),
        fc.constantFrom("GET", "POST", "PUT", "DELETE"),
        fc.string({ maxLength: 64 }),
        fc.dictionary(
          fc.constantFrom("x-serflow-signature", "x-serflow-timestamp", "x-serflow-nonce", "x-serflow-vm", "cookie"),
          fc.string({ maxLength: 70 }),
        ),
        async (path, method, auth, sig) => {
          const res: Response = await ex.default.fetch(
            new Request(`http://serflow${path}`, {
              method,
              headers: { authorization: `Bearer ${auth}`, ...sig },
              body: method === "GET" ? undefined : "{}",
            }),
          );
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(typeof ((await res.json()) as any).error).toBe("string");
        },
      ),
      { numRuns: 100, seed: 7 },
    );
  });
});
