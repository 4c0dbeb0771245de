// `npm run bench:avatars`: how the page draws a crowd. Starts a server (PLAZA_BIN,
// serving dist/ from PLAZA_WEB_ROOT), connects BENCH_AVATARS (200) walking bots over
// WebSocket from this process (light ones: postcard hello, join and a pose every 100 ms
// each, on the SDK's codec; what the server sends them is not decoded), opens the page in
// headless Chromium with SwiftShader (CPU rendering) in that space, waits until it draws
// every bot, then measures BENCH_SECONDS (20) of frames: requestAnimationFrame deltas and
// the time the page's update + render took per frame (performance.now around them).

import { loadavg } from "node:os";
import type { Page } from "puppeteer-core";
import { WebSocket } from "ws";

import { IndexTable, decodeServer, encodeClient, yaw, type ServerMsg } from "../../js/src/index.ts";
import { Chromium, startServer, until } from "./support.ts";

declare const plaza: {
  ready: boolean;
  stats: { avatars: number; frames: number };
  frameTimes: { deltas: number[]; work: number[]; reset(): void };
  stage: { renderer: { info: { render: { calls: number; triangles: number } } } };
};

const AVATARS = Number(process.env.BENCH_AVATARS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const WIDTH = Number(process.env.BENCH_WIDTH ?? 1280);
const HEIGHT = Number(process.env.BENCH_HEIGHT ?? 720);
const SPACE = "crowd";
/** Extra query for the page (e.g. `quality=high`), and a script run before measuring (for experiments). */
const QUERY = process.env.BENCH_QUERY ? `&${process.env.BENCH_QUERY}` : "";
const SETUP = process.env.BENCH_EVAL ?? "";
/** Seconds of the same page with the figures hidden, as a baseline in the same run (0: none). */
const BASELINE_SECONDS = Number(process.env.BENCH_BASELINE_SECONDS ?? 10);

class Bot {
  private socket!: WebSocket;
  private timer: NodeJS.Timeout | null = null;
  private readonly cx: number;
  private readonly cz: number;
  private readonly radius: number;
  private phase: number;
  private readonly speed: number;

  constructor(readonly index: number) {
    // A field in front of the viewer (who stands at the origin, facing +Z): 40 m × 36 m.
    this.cx = ((index * 7919) % 400) / 10 - 20;
    this.cz = 6 + ((index * 104729) % 360) / 10;
    this.radius = 1.5 + (index % 5) * 0.6;
    this.phase = (index * 2.39996) % (2 * Math.PI);
    this.speed = 1.2 + (index % 7) * 0.1;
  }

  connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const table = new IndexTable();
      this.socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`);
      this.socket.binaryType = "nodebuffer";
      let joined = false;
      this.socket.on("open", () => {
        this.socket.send(encodeClient({ type: "hello", protocol: 2, name: `bot-${this.index}`, versions: [2] }, "postcard"));
        this.socket.send(encodeClient({ type: "join", space: SPACE, ref: 1 }, "postcard"));
      });
      this.socket.on("message", (data: Buffer) => {
        if (joined) return; // the crowd's motion is the viewer's business
        let msg: ServerMsg | null = null;
        try {
          msg = decodeServer(new Uint8Array(data), "postcard", table);
        } catch {
          return;
        }
        if (msg?.type === "joined") {
          joined = true;
          this.walk();
          resolve();
        } else if (msg?.type === "error") {
          reject(new Error(`bot ${this.index}: ${msg.code} ${msg.message}`));
        }
      });
      this.socket.on("error", reject);
    });
  }

  private walk(): void {
    // Staggered, so the crowd's poses do not all land in the same tick.
    const step = () => {
      this.phase += (this.speed / this.radius) * 0.1;
      const x = this.cx + Math.cos(this.phase) * this.radius;
      const z = this.cz + Math.sin(this.phase) * this.radius;
      // Walking along the circle: facing its tangent (-sin, cos), as a turn about +Y.
      const heading = Math.atan2(-Math.sin(this.phase), Math.cos(this.phase));
      if (this.socket.readyState === WebSocket.OPEN) this.socket.send(encodeClient({ type: "pose", transform: { pos: [x, 0, z], rot: yaw(heading), scale: [1, 1, 1] } }, "postcard"));
    };
    setTimeout(() => {
      step();
      this.timer = setInterval(step, 100);
    }, (this.index * 37) % 100);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.socket?.close();
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(values: number[]): { p50: number; p95: number; p99: number; mean: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / (values.length || 1);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), mean, max: sorted[sorted.length - 1] ?? NaN };
}

/** Frames for `seconds`: rAF deltas and per-frame work, from the page's own counters. */
async function measure(page: Page, seconds: number) {
  await page.evaluate(() => plaza.frameTimes.reset());
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return page.evaluate(() => ({
    deltas: [...plaza.frameTimes.deltas],
    work: [...plaza.frameTimes.work],
    avatars: plaza.stats.avatars,
    labels: (plaza.stats as unknown as { labels: number }).labels,
    calls: plaza.stage.renderer.info.render.calls,
    triangles: plaza.stage.renderer.info.render.triangles,
  }));
}

function report(label: string, result: Awaited<ReturnType<typeof measure>>, seconds: number) {
  const frames = summary(result.deltas);
  const work = summary(result.work);
  const fps = (result.deltas.length / result.deltas.reduce((a, b) => a + b, 0)) * 1000;
  const f = (n: number) => n.toFixed(1);
  console.log(`-- ${label}: ${result.avatars} figures, ${result.labels} labels in range; ${result.calls} draw calls, ${result.triangles} triangles per frame`);
  console.log(`   ${result.deltas.length} frames in ${seconds} s: ${f(fps)} fps`);
  console.log(`   frame interval (rAF delta) ms: p50 ${f(frames.p50)}  p95 ${f(frames.p95)}  p99 ${f(frames.p99)}  max ${f(frames.max)}`);
  console.log(`   update + render per frame ms:  p50 ${f(work.p50)}  p95 ${f(work.p95)}  p99 ${f(work.p99)}  mean ${f(work.mean)}`);
  return { label, fps, frames, work, calls: result.calls, triangles: result.triangles, labels: result.labels };
}

const server = await startServer({
  ...(process.env.BENCH_WEB_ROOT ? { PLAZA_WEB_ROOT: process.env.BENCH_WEB_ROOT } : {}),
  PLAZA_MAX_CONNECTIONS_PER_ADDR: "2000",
  PLAZA_CONNECTIONS_PER_ADDR__PER_SEC: "2000",
  PLAZA_CONNECTIONS_PER_ADDR__BURST: "2000",
  PLAZA_HTTP_REQUESTS_PER_ADDR__PER_SEC: "10000",
  PLAZA_HTTP_REQUESTS_PER_ADDR__BURST: "10000",
});
const bots: Bot[] = [];
let chromium: Chromium | null = null;
try {
  const began = Date.now();
  for (let i = 0; i < AVATARS; i += 20) {
    const batch = [];
    for (let j = i; j < Math.min(AVATARS, i + 20); j++) {
      const bot = new Bot(j);
      bots.push(bot);
      batch.push(bot.connect(server.url));
    }
    await Promise.all(batch);
  }
  console.log(`${AVATARS} bots connected and walking in ${Date.now() - began} ms`);
  chromium = await Chromium.launch();
  const page = await chromium.open(`${server.url}/?space=${SPACE}&name=viewer${QUERY}`, WIDTH, HEIGHT);
  await until(page, "the page to join", () => (globalThis as { plaza?: { ready: boolean } }).plaza?.ready, 60_000);
  await until(page, `all ${AVATARS + 1} figures`, (n: number) => plaza.stats.avatars >= n, 60_000, AVATARS + 1);
  // Let it settle (labels drawn, shaders compiled), then measure.
  await new Promise((r) => setTimeout(r, 3000));
  if (SETUP) await page.evaluate(SETUP);
  await new Promise((r) => setTimeout(r, 500));
  const renderer = await page.evaluate(() => {
    const gl = document.createElement("canvas").getContext("webgl2");
    const info = gl?.getExtension("WEBGL_debug_renderer_info");
    return info && gl ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "unknown";
  });
  const quality = await page.evaluate(() => (plaza as unknown as { quality: string }).quality);
  const load = loadavg().map((n) => n.toFixed(2)).join(" ");
  console.log(`renderer: ${renderer}; ${WIDTH}x${HEIGHT}, quality ${quality}; load average before: ${load}`);
  const results = [report(`${AVATARS} walking figures in view`, await measure(page, SECONDS), SECONDS)];
  if (BASELINE_SECONDS > 0) {
    await page.evaluate(() => ((plaza as unknown as { avatars: { group: { visible: boolean } } }).avatars.group.visible = false));
    results.push(report("baseline, same page with the figures hidden", await measure(page, BASELINE_SECONDS), BASELINE_SECONDS));
  }
  console.log(`load average after: ${loadavg().map((n) => n.toFixed(2)).join(" ")}`);
  console.log(JSON.stringify({ avatars: AVATARS, width: WIDTH, height: HEIGHT, quality, renderer, results }));
} finally {
  for (const bot of bots) bot.close();
  await chromium?.close();
  await server.stop();
}
