/**
 * GET /docs in a real headless Chromium (Debian's `chromium`, driven by playwright-core) against
 * the real Node server: the page renders the batch endpoint and a built-in call from
 * /openapi.json, and no request leaves loopback (the script and styles come from the gateway, not
 * a CDN). Saves the screenshot the README shows (docs/img/docs.png).
 *
 * Without /usr/bin/chromium the test is skipped locally and fails under CI=true (.ci/run installs it).
 */
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gateway.js";
import { startServer, type RunningServer } from "../helpers/process.js";

const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
const SCREENSHOT = fileURLToPath(new URL("../../docs/img/docs.png", import.meta.url));

let server: RunningServer;
let browser: Browser;

describe("GET /docs in a browser", () => {
  if (!available && process.env.CI === "true") {
    it("finds Chromium at /usr/bin/chromium", () => {
      expect.fail(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);
    });
    return;
  }

  beforeAll(async () => {
    if (!available) return;
    server = await startServer({ DATA_DIR: tempDir(), DEMO_USERS: "1" });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop("SIGKILL");
  });

  it.skipIf(!available)("renders the batch endpoint and the built-in calls, loading nothing from outside loopback", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const requested: string[] = [];
    const failed: string[] = [];
    page.on("request", (r) => requested.push(r.url()));
    page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    // Anything not addressed to the gateway is refused, so a CDN dependency would break the page.
    await page.route("**/*", (route) => {
      const url = new URL(route.request().url());
      return url.hostname === "127.0.0.1" ? route.continue() : route.abort();
    });

    const res = await page.goto(`${server.base}/docs`, { waitUntil: "load" });
    expect(res?.status()).toBe(200);
    await page.locator('[data-path="/batch/create"]').first().waitFor({ timeout: 20_000 });
    await page.locator('[data-path="/v2/wallet/find"]').first().waitFor();
    await page.locator('[data-path="/v2/payment/create"]').first().waitFor();
    expect(await page.locator(".title").first().textContent()).toContain("Batchgate");

    const outside = requested.filter((u) => !/^(data|blob):/.test(u) && new URL(u).hostname !== "127.0.0.1");
    expect(outside).toEqual([]);
    expect(failed).toEqual([]);
    expect(requested).toEqual(expect.arrayContaining([`${server.base}/docs/assets/swagger-ui-bundle.js`, `${server.base}/docs/assets/swagger-ui.css`, `${server.base}/openapi.json`]));

    mkdirSync(fileURLToPath(new URL("../../docs/img/", import.meta.url)), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
  }, 60_000);
});
