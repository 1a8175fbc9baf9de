// The dashboard in a real browser (Chromium from npm, driven by playwright-core) during a load: the
// charts draw, keep updating, and a screenshot is saved to docs/dashboard.png.
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { runLoad, DEFAULT_LOAD } from "../../scripts/load-gen.js";
import { testStack } from "./helpers.js";
import { launchBrowser } from "./browser.js";

const SHOT = fileURLToPath(new URL("../../docs/dashboard.png", import.meta.url));
let stack: Awaited<ReturnType<typeof testStack>> | null = null;
let browser: Browser | null = null;
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("dashboard", () => {
  it("shows live charts that update during a load", async () => {
    stack = await testStack({ vm: { usd_per_hour: 0.00001, boot_s: 3, max: 1 }, control_period_s: 1 });
    const load = runLoad({ ...DEFAULT_LOAD, url: stack.url, rps: 60, durationS: 25, pattern: "step" });
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // Without the token the page is refused.
    expect((await page.goto(`${stack.url}/dashboard`))!.status()).toBe(401);
    await page.goto(`${stack.url}/dashboard?token=${stack.adminToken}`);
    await page.waitForFunction(() => Number(document.getElementById("updated")?.dataset.ticks ?? 0) >= 3, undefined, {
      timeout: 30_000,
    });
    expect(await page.locator(".uplot canvas").count()).toBeGreaterThanOrEqual(6);
    const first = await page.evaluate(() => (window as any).serflowCharts["c-rate"].u.data[0].length);
    const requestsBefore = await page.locator("#updated").textContent();
    // The charts keep updating: wait for the rate chart to grow, not for a fixed time.
    await page.waitForFunction((n) => (window as any).serflowCharts["c-rate"].u.data[0].length > n, first, {
      timeout: 30_000,
    });
    await page.waitForFunction((before) => document.getElementById("updated")?.textContent !== before, requestsBefore, {
      timeout: 30_000,
    });
    // The rate chart has seen traffic, and the plan explains itself.
    const maxRate = () =>
      page.evaluate(() =>
        Math.max(0, ...(window as any).serflowCharts["c-rate"].u.data[1].filter((x: number | null) => x !== null)),
      );
    expect(await maxRate()).toBeGreaterThan(0);
    expect((await page.locator("#plan").textContent())!.length).toBeGreaterThan(20);
    // The savings panel shows dollars and a percentage against all on Workers and against VMs only.
    for (const id of ["#saved-workers", "#saved-vms"]) {
      expect(await page.locator(id).textContent()).toMatch(/^-?\$\d+\.\d+ \((-?\d+\.\d%|[\d,]+× its cost)\)$/);
      expect(Number.isFinite(Number(await page.locator(id).getAttribute("data-usd")))).toBe(true);
    }
    expect(await page.locator("#cost-now").textContent()).toMatch(/^\$\d+\.\d+$/);
    // The screenshot shows the step: the rate chart has reached the full rate (60 req/s) at least halfway.
    await page.waitForFunction(
      () =>
        Math.max(0, ...(window as any).serflowCharts["c-rate"].u.data[1].filter((x: number | null) => x !== null)) >=
        30,
      undefined,
      { timeout: 30_000 },
    );
    await page.screenshot({ path: SHOT, fullPage: true });
    expect(errors).toEqual([]);
    const summary = await load;
    expect(summary.failed).toBe(0);
  });
});
