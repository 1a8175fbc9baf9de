// A browser for the dashboard test that comes from npm, so `npm ci && npm test` needs nothing installed by
// hand: @sparticuz/chromium ships a compressed Chromium for Linux x64/arm64 that unpacks to the temp
// directory on first use. Elsewhere (macOS, Windows) the test uses a Google Chrome the user has, and says so.
import { chromium, type Browser } from "playwright-core";

export async function launchBrowser(log: (line: string) => void = console.warn): Promise<Browser> {
  const explicit = process.env.CHROMIUM_PATH;
  if (explicit) return chromium.launch({ executablePath: explicit, args: ["--no-sandbox", "--disable-gpu"] });
  if (process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64")) {
    const { default: packaged } = await import("@sparticuz/chromium");
    // --lang: under LANG=C this build reports the locale "en-US@posix", which Intl (and so uPlot) rejects.
    return chromium.launch({
      executablePath: await packaged.executablePath(),
      args: [...packaged.args, "--lang=en-US"],
      headless: true,
    });
  }
  try {
    const browser = await chromium.launch({ channel: "chrome" });
    log(
      `dashboard test: @sparticuz/chromium has no build for ${process.platform}/${process.arch}; using your Google Chrome`,
    );
    return browser;
  } catch (err) {
    throw new Error(
      `no browser for the dashboard test: @sparticuz/chromium ships Linux x64/arm64 builds only, and no Google Chrome ` +
        `was found on this ${process.platform}/${process.arch} machine. Install Google Chrome, or set CHROMIUM_PATH ` +
        `to a Chromium-based browser. (${(err as Error).message.split("\n")[0]})`,
    );
  }
}
