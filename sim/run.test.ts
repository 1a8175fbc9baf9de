import { describe, expect, it } from "vitest";
import { roomCapturedShare } from "./run.js";

describe("roomCapturedShare", () => {
  it("is serflow's share of the room between the reference and the bound", () => {
    expect(roomCapturedShare(2, 1.5, 1)).toBeCloseTo(0.5, 12);
    expect(roomCapturedShare(2, 2, 1)).toBe(0);
    expect(roomCapturedShare(2, 2.5, 1)).toBeCloseTo(-0.5, 12);
  });
  it("takes a room of rounding (a bound at the reference's bill, summed in another order) as none", () => {
    const faasOnly = 1.438392;
    const bound = faasOnly * (1 - 1e-15); // the same requests' bill, summed in another order
    expect(roomCapturedShare(faasOnly, faasOnly, bound)).toBe(1);
    // Above the reference's bill there is nothing taken, room or not.
    expect(roomCapturedShare(faasOnly, faasOnly * 1.01, bound)).toBe(0);
    // A real room, however small, is still measured.
    expect(roomCapturedShare(1.438, 1.438, 1.4379)).toBe(0);
  });
});
