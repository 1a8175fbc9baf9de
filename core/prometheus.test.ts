import { describe, expect, it } from "vitest";
import { Exposition } from "./prometheus.js";

describe("Prometheus exposition", () => {
  it("writes cumulative buckets, one +Inf bucket holding the overflow, and escaped labels", () => {
    const text = new Exposition()
      .family("x_seconds", "histogram", "A histogram.")
      .histogram(
        "x_seconds",
        { tier: 'v"m' },
        [
          [0.1, 2],
          [Infinity, 3],
          [0.01, 1],
        ],
        1.5,
      )
      .text();
    expect(text.split("\n").filter((l) => l.startsWith("x_seconds_bucket"))).toEqual([
      'x_seconds_bucket{tier="v\\"m",le="0.01"} 1',
      'x_seconds_bucket{tier="v\\"m",le="0.1"} 3',
      'x_seconds_bucket{tier="v\\"m",le="+Inf"} 6',
    ]);
    expect(text).toContain('x_seconds_count{tier="v\\"m"} 6');
    expect(text).toContain("# TYPE x_seconds histogram");
  });
});
