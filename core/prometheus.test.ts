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

  it("escapes backslashes and newlines in help and labels, writes special values as Prometheus spells them", () => {
    const text = new Exposition()
      .family("y_total", "counter", "Line one\nline \\ two")
      .sample("y_total", { path: "a\\b\nc" }, Number.NaN)
      .sample("y_total", { k: 1 }, Infinity)
      .sample("y_total", {}, -Infinity)
      .sample("y_total", {}, 0.25)
      .text();
    expect(text).toBe(
      [
        "# HELP y_total Line one\\nline \\\\ two",
        "# TYPE y_total counter",
        'y_total{path="a\\\\b\\nc"} NaN',
        'y_total{k="1"} +Inf',
        "y_total -Inf",
        "y_total 0.25",
        "",
      ].join("\n"),
    );
  });

  it("sums and counts a histogram with its labels; an empty exposition is one newline", () => {
    const text = new Exposition().histogram("z", { a: "b" }, [[1, 4]], 2.5).text();
    expect(text).toBe(
      ['z_bucket{a="b",le="1"} 4', 'z_bucket{a="b",le="+Inf"} 4', 'z_sum{a="b"} 2.5', 'z_count{a="b"} 4', ""].join(
        "\n",
      ),
    );
    expect(new Exposition().text()).toBe("\n");
  });
});
