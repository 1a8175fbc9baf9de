import { describe, expect, it } from "vitest";
import { QUEUE_STAGE } from "./views.js";

describe("views", () => {
  it("the deep-call queue's histogram rows sit under a stage index no stage has (stages count from 0)", () => {
    expect(Number.isInteger(QUEUE_STAGE)).toBe(true);
    expect(QUEUE_STAGE).toBeLessThan(0);
  });
});
