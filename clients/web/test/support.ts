// Test support for the page: a Plaza server serving this folder's dist/ (PLAZA_WEB_ROOT,
// so the binary needs no rebuild; or, with WEB_FROM=embedded as the test command sets,
// the copy built into the binary, which is what `plaza serve` users get), headless Debian Chromium with SwiftShader through
// puppeteer-core (never a downloaded browser), pages opened as separate windows (so each
// keeps rendering), and PNG decoding for the screenshot check; the GLB is the SDK tests' fixture.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateSync } from "node:zlib";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

import { triangleGlb } from "../../js/test/glb.ts";
import { TestServer } from "../../js/test/server.ts";

/** The SDK's shared fixture: the smallest valid GLB (one red triangle). */
export { TestServer, triangleGlb };

/** clients/web (tests run from dist-test/). */
export const WEB_DIR = resolve(fileURLToPath(new URL("../", import.meta.url)));
export const DIST = join(WEB_DIR, "dist");
export const ARTIFACTS = join(WEB_DIR, "test-artifacts");

/** The server binary: PLAZA_BIN, else the repository's debug build. */
export function ensureBinary(): void {
  if (!process.env.PLAZA_BIN) process.env.PLAZA_BIN = resolve(WEB_DIR, "../../target/debug/plaza");
  if (!existsSync(process.env.PLAZA_BIN)) {
    throw new Error(`no Plaza binary at ${process.env.PLAZA_BIN}: run \`cargo build\` in the repository root, or set PLAZA_BIN`);
  }
}

export async function startServer(extraEnv: Record<string, string> = {}): Promise<TestServer> {
  ensureBinary();
  const fromDist = process.env.WEB_FROM !== "embedded";
  return TestServer.start({ ...(fromDist ? { PLAZA_WEB_ROOT: DIST } : {}), ...extraEnv });
}

export function chromiumPath(): string {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const candidate of ["chromium", "chromium-browser", "google-chrome"]) {
    const found = spawnSync("which", [candidate], { encoding: "utf8" });
    if (found.status === 0) return found.stdout.trim();
  }
  throw new Error("no Chromium found: install Debian's chromium package (apt-get install chromium)");
}

export const CHROMIUM_FLAGS = [
  "--headless=new",
  "--use-angle=swiftshader",
  "--enable-unsafe-swiftshader",
  "--ignore-gpu-blocklist",
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-renderer-backgrounding",
  "--disable-background-timer-throttling",
  "--disable-backgrounding-occluded-windows",
  "--autoplay-policy=no-user-gesture-required",
];

export class Chromium {
  private constructor(
    readonly browser: Browser,
    private readonly profile: string,
  ) {}

  static async launch(): Promise<Chromium> {
    const profile = mkdtempSync(join(tmpdir(), "plaza-web-chromium-"));
    const browser = await puppeteer.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`],
      defaultViewport: null,
      protocolTimeout: 120_000,
    });
    return new Chromium(browser, profile);
  }

  /** A page in its own window (a tab in the background would stop drawing frames). */
  async open(url: string, width = 800, height = 600): Promise<Page> {
    const page = await this.browser.newPage({ type: "window", windowBounds: { width, height } });
    await page.setViewport({ width, height });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    (page as unknown as { plazaErrors: string[] }).plazaErrors = errors;
    await page.goto(url);
    return page;
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => {});
    rmSync(this.profile, { recursive: true, force: true });
  }
}

/** Page errors and console errors seen so far. */
export function pageErrors(page: Page): string[] {
  return (page as unknown as { plazaErrors?: string[] }).plazaErrors ?? [];
}

/** Polls `check` in the page until it returns something truthy (or times out). */
export async function until<T, A extends unknown[] = []>(page: Page, what: string, check: (...args: A) => T, timeoutMs = 20_000, ...args: A): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      last = await page.evaluate(check as (...a: unknown[]) => T, ...args);
      if (last) return last as NonNullable<Awaited<T>>;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)}; page errors: ${pageErrors(page).join(" | ")})`);
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are). */
export function decodePng(png: Buffer): { width: number; height: number; channels: number; pixels: Buffer } {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error("not a PNG");
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const depth = body[8];
      const colorType = body[9];
      if (depth !== 8 || body[12] !== 0) throw new Error(`unsupported PNG: depth ${depth}, interlace ${body[12]}`);
      channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
      if (!channels) throw new Error(`unsupported PNG colour type ${colorType}`);
    } else if (type === "IDAT") {
      data.push(body);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const left = x >= channels ? pixels[y * stride + x - channels]! : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const upLeft = y > 0 && x >= channels ? pixels[(y - 1) * stride + x - channels]! : 0;
      let value = line[x]!;
      if (filter === 1) value += left;
      else if (filter === 2) value += up;
      else if (filter === 3) value += (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const pa = Math.abs(p - left);
        const pb = Math.abs(p - up);
        const pc = Math.abs(p - upLeft);
        value += pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      pixels[y * stride + x] = value & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** How many distinct colours an image has (quantised to 5 bits a channel). */
export function distinctColours(png: Buffer): number {
  const { channels, pixels } = decodePng(png);
  const seen = new Set<number>();
  for (let i = 0; i < pixels.length; i += channels) {
    seen.add(((pixels[i]! >> 3) << 10) | ((pixels[i + 1]! >> 3) << 5) | (pixels[i + 2]! >> 3));
  }
  return seen.size;
}
