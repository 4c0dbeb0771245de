// The SDK in a real browser (headless Chromium; `npm run test:browser`, not part of
// `npm test` because it needs Chromium): a page on another origin loads dist/plaza.js,
// connects with `transport: "auto"` (WebTransport, trusting the server's self-signed
// certificate by the hash from /cert-hash), joins, spawns, poses and says so in chat,
// where a Node client reads it; then again with WebTransport broken, to see the client
// fall back to WebSocket by itself.

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocket as NodeWebSocket } from "ws";

import { connect, type Client, type WebSocketConstructor } from "../src/index.js";
import { TestServer } from "../test/server.js";

const BUNDLE = new URL("../dist/plaza.js", import.meta.url);

const PAGE = `<!doctype html><meta charset="utf-8"><title>plaza sdk</title>
<script type="module">
import { connect } from "/plaza.js";
const params = new URLSearchParams(location.search);
const options = { url: params.get("server"), name: params.get("name") };
if (params.has("break")) options.WebTransport = class { constructor() { throw new Error("broken on purpose"); } };
try {
  const client = await connect(options);
  await client.join("browsers");
  client.pose({ pos: [1.5, 0, -2.25] });
  const id = await client.spawn({ model: "cube" });
  await client.say("ok " + client.transport + " " + id);
  // What moves reaches the browser too (motion datagrams on WebTransport).
  let motions = 0;
  client.on("message", (msg) => { if (msg.type === "motion") motions += 1; });
  const off = client.on("userMoved", (user) => {
    if (user.name !== "watcher" || user.transform.pos[0] < 8) return;
    off();
    client.say("saw the watcher at " + user.transform.pos.join(",") + " after " + motions + " motion datagrams");
  });
} catch (error) {
  document.title = "failed: " + error;
}
</script>`;

function chromium(): string {
  for (const candidate of ["chromium", "chromium-browser", "google-chrome"]) {
    if (spawnSync("which", [candidate]).status === 0) return candidate;
  }
  throw new Error("no Chromium found: install Debian's chromium package (apt-get install chromium)");
}

describe("a real browser", () => {
  let server: TestServer;
  let pages: Server;
  let pagesUrl: string;
  let watcher: Client;
  const browsers: ChildProcess[] = [];
  const profiles: string[] = [];

  before(async () => {
    // The page is on another origin than the server: /cert-hash needs CORS.
    server = await TestServer.start({ PLAZA_CORS_ORIGINS: '["*"]' });
    const bundle = readFileSync(BUNDLE);
    pages = createServer((request, response) => {
      const isBundle = request.url?.startsWith("/plaza.js");
      response.writeHead(200, { "content-type": isBundle ? "text/javascript" : "text/html" });
      response.end(isBundle ? bundle : PAGE);
    });
    await new Promise<void>((r) => pages.listen(0, "127.0.0.1", r));
    const address = pages.address();
    pagesUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    watcher = await connect({ url: server.url, name: "watcher", transport: "websocket", WebSocket: NodeWebSocket as unknown as WebSocketConstructor });
    await watcher.join("browsers");
  });

  after(async () => {
    for (const browser of browsers) browser.kill("SIGKILL");
    watcher?.close();
    pages?.close();
    await server?.stop();
    for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
  });

  function open(name: string, extra = ""): void {
    const profile = mkdtempSync(join(tmpdir(), "plaza-sdk-browser-"));
    profiles.push(profile);
    const url = `${pagesUrl}/?server=${encodeURIComponent(server.url)}&name=${name}${extra}`;
    const flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
    browsers.push(spawn(chromium(), [...flags, `--user-data-dir=${profile}`, "--remote-debugging-port=0", url], { stdio: "ignore" }));
  }

  function said(prefix: string): Promise<{ text: string; from: string }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no chat line starting ${JSON.stringify(prefix)} within 30 s; server log:\n${server.output}`)), 30_000);
      const off = watcher.on("chat", (line) => {
        if (!line.text.startsWith(prefix)) return;
        clearTimeout(timer);
        off();
        resolve(line);
      });
    });
  }

  test("auto picks WebTransport in Chromium, pinned by the certificate hash", async () => {
    const line = said("ok ");
    open("browser-auto");
    const { text, from } = await line;
    assert.match(text, /^ok webtransport [0-9a-f-]{36}$/);
    const id = text.split(" ")[2]!;
    assert.ok(watcher.space.object(id), "the browser's object is in the watcher's mirror");
    assert.deepEqual(watcher.space.user(from)?.transform.pos, [1.5, 0, -2.25], "its pose came through");
    const seen = said("saw the watcher at ");
    let x = 7;
    const walking = setInterval(() => watcher.pose({ pos: [(x += 0.125), 0, 0] }), 50);
    try {
      const { text } = await seen;
      assert.match(text, /^saw the watcher at \d+(\.\d+)?,0,0 after \d+ motion datagrams$/);
      assert.ok(Number(/after (\d+)/.exec(text)![1]) > 0, `moves came as motion datagrams: ${text}`);
    } finally {
      clearInterval(walking);
    }
  });

  test("with WebTransport failing, the client falls back to WebSocket by itself", async () => {
    const line = said("ok websocket");
    open("browser-fallback", "&break=1");
    assert.match((await line).text, /^ok websocket /);
  });
});
