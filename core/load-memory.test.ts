import { describe, expect, it } from "vitest";
import { LOAD_RETRY_AFTER_S, LoadMemory } from "./load-memory.js";

/** A memory on a clock the test moves, and a load that fails while `fail` says so, counting its calls. */
function setup() {
  const clock = { ms: 1_000_000 };
  const memory = new LoadMemory<string>(LOAD_RETRY_AFTER_S, () => clock.ms);
  const state = { loads: 0, fail: true };
  const load = async () => {
    state.loads++;
    if (state.fail) throw new Error("stage1.onnx is not in the bucket");
    return "runner";
  };
  const remembered = (err: unknown, leftS: number) => new Error(`${(err as Error).message}; again in ${leftS} s`);
  const get = () => memory.get("m", load, remembered);
  return { clock, state, get };
}

describe("a failed load is remembered for LOAD_RETRY_AFTER_S", () => {
  it("answers from memory with the seconds left until the window ends, then loads again", async () => {
    const { clock, state, get } = setup();
    await expect(get()).rejects.toThrow("stage1.onnx is not in the bucket");
    expect(state.loads).toBe(1);
    state.fail = false; // fixed at once: still not tried before the window ends
    clock.ms += 1;
    await expect(get()).rejects.toThrow("stage1.onnx is not in the bucket; again in 30 s");
    clock.ms += 10_000;
    await expect(get()).rejects.toThrow("again in 20 s"); // 19.999 s left, rounded up
    clock.ms += 19_000;
    await expect(get()).rejects.toThrow("again in 1 s");
    expect(state.loads).toBe(1);
    clock.ms += 999; // exactly LOAD_RETRY_AFTER_S after the failure
    expect(await get()).toBe("runner");
    expect(state.loads).toBe(2);
    clock.ms += 3_600_000;
    expect(await get()).toBe("runner"); // a load that worked is kept
    expect(state.loads).toBe(2);
  });

  it("a reload that fails again is remembered from its own failure", async () => {
    const { clock, state, get } = setup();
    await expect(get()).rejects.toThrow();
    clock.ms += LOAD_RETRY_AFTER_S * 1000;
    await expect(get()).rejects.toThrow("stage1.onnx is not in the bucket");
    clock.ms += 1_000;
    await expect(get()).rejects.toThrow("again in 29 s");
    expect(state.loads).toBe(2);
  });

  it("callers during a load share it, its failure included", async () => {
    const { state, get } = setup();
    const all = await Promise.allSettled([get(), get(), get()]);
    expect(all.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(state.loads).toBe(1);
  });

  it("a load that throws before it returns a promise is a failure like any other", async () => {
    const memory = new LoadMemory<string>(30, () => 0);
    let loads = 0;
    const load = () => {
      loads++;
      throw new Error("no bucket");
    };
    await expect(memory.get("m", load, (e) => e)).rejects.toThrow("no bucket");
    await expect(memory.get("m", load, (e) => e)).rejects.toThrow("no bucket");
    expect(loads).toBe(1);
  });

  it("remembers each key apart", async () => {
    const memory = new LoadMemory<string>(30, () => 0);
    const as = (e: unknown) => e;
    await expect(memory.get("a", async () => Promise.reject(new Error("a failed")), as)).rejects.toThrow();
    expect(await memory.get("b", async () => "b", as)).toBe("b");
  });
});
