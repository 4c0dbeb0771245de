// The page in headless Chromium (SwiftShader), against a real server serving dist/ from
// PLAZA_WEB_ROOT: two windows in one space. A walks with the keyboard and B sees A's
// figure move; A places a cube from the toolbar and B sees it, then drags it and B sees
// it move; chat goes both ways; A drops a GLB on the page and both show the model; B's
// attempt to delete A's cube shows the ownership toast; A shares a (canvas) screen and B
// plays it on a panel; a screenshot of B with both figures is saved and checked not
// blank; a third page gets the chat history over HTTP and pages back; the /debug
// console's screen sharing interoperates with the page's, both ways; the start screen
// lists the space, registers a name and enters.

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "puppeteer-core";

import { ARTIFACTS, Chromium, distinctColours, pageErrors, startServer, triangleGlb, until, type TestServer } from "./support.ts";

type Hook = {
  ready: boolean;
  client: { user: string | null; space: { users: Map<string, unknown> }; say(text: string): Promise<unknown> };
  stats: { avatars: number; objects: number; models: number; videos: number; frames: number };
  toasts: string[];
  avatarPositions(): { user: string; name: string; pos: [number, number, number] }[];
  objectList(): { id: string; model: string; owner: string; loaded: string; pos: [number, number, number] }[];
  chatLines(): string[];
  screenPoint(x: number, y: number, z: number): { x: number; y: number; inView: boolean };
  objects: { selected: { wire: { id: string } } | null };
  sharing: { start(source: string): Promise<void> };
  stage: { camera: unknown };
};
declare const plaza: Hook;

const SPACE = "web-test";

describe("two pages in one space", () => {
  let server: TestServer;
  let chromium: Chromium;
  let a: Page;
  let b: Page;
  let cubeId = "";

  before(async () => {
    // Joining sends only the last 10 chat lines, so older ones must come over HTTP; chat
    // may go fast enough to fill pages.
    server = await startServer({ PLAZA_CHAT_HISTORY: "10", PLAZA_MESSAGE_RATES__CHAT__PER_SEC: "1000", PLAZA_MESSAGE_RATES__CHAT__BURST: "1000" });
    chromium = await Chromium.launch();
    a = await chromium.open(`${server.url}/?space=${SPACE}&name=alice`);
    b = await chromium.open(`${server.url}/?space=${SPACE}&name=bob`);
    for (const page of [a, b]) {
      await until(page, "the page to join and draw frames", () => (globalThis as { plaza?: Hook }).plaza?.ready && plaza.stats.frames > 5, 30_000);
      await until(page, "both people in the mirror", () => plaza.stats.avatars === 2);
    }
  });

  after(async () => {
    await chromium?.close();
    await server?.stop();
  });

  const aliceOnB = () => b.evaluate(() => plaza.avatarPositions().find((p) => p.name === "alice")?.pos ?? null);

  test("A walks with the keyboard and B sees A's figure move", async () => {
    const start = await aliceOnB();
    assert.ok(start, "B draws alice");
    await a.bringToFront();
    await a.focus("canvas");
    await a.keyboard.down("KeyW");
    await new Promise((r) => setTimeout(r, 1500));
    await a.keyboard.up("KeyW");
    const moved = await until(
      b,
      "alice's figure on B to move more than 2 m",
      (from: number[]) => {
        const pos = plaza.avatarPositions().find((p) => p.name === "alice")?.pos;
        return pos && Math.hypot(pos[0] - from[0]!, pos[2] - from[2]!) > 2 ? pos : null;
      },
      15_000,
      start,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}; A's own position: ${JSON.stringify(await a.evaluate(() => plaza.avatarPositions()))}`);
    });
    // ...to where A put itself (smoothing settles within a second).
    await new Promise((r) => setTimeout(r, 800));
    const [onA, onB] = [await a.evaluate(() => plaza.avatarPositions().find((p) => p.name === "alice")!.pos), await aliceOnB()];
    assert.ok(onB && Math.hypot(onA[0] - onB[0], onA[2] - onB[2]) < 0.05, `B shows alice where A is: ${onA} vs ${onB} (first seen moving at ${moved})`);
  });

  test("A places a cube from the toolbar and B sees it", async () => {
    const before = await b.evaluate(() => plaza.stats.objects);
    await a.click('[data-spawn="cube"]');
    const alice = (await a.evaluate(() => plaza.client.user))!;
    const cube = await until(b, "A's cube on B", (owner: string) => plaza.objectList().find((o) => o.model === "cube" && o.owner === owner), 15_000, alice);
    cubeId = cube.id;
    assert.equal(await b.evaluate(() => plaza.stats.objects), before + 1);
    await until(a, "the new cube selected on A", (id: string) => plaza.objects.selected?.wire.id === id, 10_000, cubeId);
  });

  test("A drags its cube over the ground and B sees it move", async () => {
    await a.bringToFront();
    const before = await b.evaluate((id: string) => plaza.objectList().find((o) => o.id === id)!.pos, cubeId);
    const at = await a.evaluate((id: string) => {
      const object = plaza.objectList().find((o) => o.id === id)!;
      return plaza.screenPoint(object.pos[0], object.pos[1], object.pos[2]);
    }, cubeId);
    assert.ok(at.inView, "the cube is on A's screen");
    await a.mouse.move(at.x, at.y);
    await a.mouse.down();
    for (let step = 1; step <= 10; step++) {
      await a.mouse.move(at.x + step * 12, at.y + step * 3);
      await new Promise((r) => setTimeout(r, 40));
    }
    await a.mouse.up();
    const moved = await until(
      b,
      "the cube to move on B",
      (id: string, from: number[]) => {
        const pos = plaza.objectList().find((o) => o.id === id)?.pos;
        return pos && Math.hypot(pos[0] - from[0]!, pos[2] - from[2]!) > 0.5 ? pos : null;
      },
      15_000,
      cubeId,
      before,
    );
    assert.ok(Math.abs(moved[1] - before[1]) < 0.01, "it stays on its height");
  });

  test("chat goes A to B and B to A", async () => {
    const say = async (page: Page, text: string) => {
      await page.focus("#chat-input");
      await page.keyboard.type(text);
      await page.keyboard.press("Enter");
    };
    await say(a, "hello from alice");
    await until(b, "alice's line on B", () => plaza.chatLines().includes("alice: hello from alice"));
    await say(b, "hi alice, bob here");
    await until(a, "bob's line on A", () => plaza.chatLines().includes("bob: hi alice, bob here"));
    // The typing went into chat, not into walking.
    await a.focus("canvas");
  });

  test("a GLB dropped on A is uploaded, placed, and shows as a model on both pages", async () => {
    const glb = Buffer.from(triangleGlb()).toString("base64");
    await a.evaluate((data: string) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], "triangle.glb", { type: "model/gltf-binary" }));
      window.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, glb);
    const id = await until(a, "the upload's model id", () => (plaza as unknown as { build: { uploaded: string[] } }).build.uploaded[0], 15_000);
    for (const page of [a, b]) {
      await until(page, "the uploaded model drawn", (model: string) => plaza.objectList().find((o) => o.model === model && o.loaded === "model"), 20_000, id);
    }
    // Not a GLB: the server's 422 is shown.
    await a.evaluate(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new TextEncoder().encode("not a model at all")], "broken.glb"));
      window.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    const toast = await until(a, "the refusal toast", () => plaza.toasts.find((t) => t.includes("broken.glb")));
    assert.match(toast, /^upload of broken\.glb refused: .*(glb|gltf)/i, "the server's reason is shown");
  });

  test("B trying to delete A's cube gets the ownership toast", async () => {
    assert.ok(cubeId, "the cube test ran");
    await b.bringToFront();
    // Click the cube where B's camera shows it (picking), falling back to selecting it.
    const point = await b.evaluate((id: string) => {
      const object = plaza.objectList().find((o) => o.id === id);
      if (!object) return null;
      const at = plaza.screenPoint(object.pos[0], object.pos[1], object.pos[2]);
      return at.inView ? at : null;
    }, cubeId);
    if (point) await b.mouse.click(point.x, point.y);
    let selected = await b.evaluate(() => plaza.objects.selected?.wire.id ?? null);
    if (selected !== cubeId) {
      await b.evaluate((id: string) => {
        const hook = plaza as unknown as { objects: { byId: Map<string, unknown>; select(o: unknown): void } };
        hook.objects.select(hook.objects.byId.get(id));
      }, cubeId);
      selected = cubeId;
    }
    await b.focus("canvas");
    await b.keyboard.press("Delete");
    const toast = await until(b, "the ownership toast", () => plaza.toasts.find((t) => t.includes("don't own")));
    assert.equal(toast, "you don't own this object");
    assert.ok(await b.evaluate(() => document.querySelector("#toasts")!.textContent!.includes("you don't own this object")), "the toast is on screen");
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(await a.evaluate((id: string) => plaza.objectList().some((o) => o.id === id), cubeId), "A's cube is still there");
    assert.ok(point, "the cube was on B's screen and a click picked it");
  });

  test("A shares a screen (a canvas) and B plays it on a panel", async () => {
    await a.evaluate(() => plaza.sharing.start("canvas"));
    await until(b, "a playing video panel on B", () => plaza.stats.videos >= 1, 30_000);
  });

  test("a screenshot of B shows both figures and is not blank", async () => {
    await b.bringToFront();
    await new Promise((r) => setTimeout(r, 500));
    // Both figures are inside B's view.
    const inView = await b.evaluate(() => plaza.avatarPositions().map((p) => plaza.screenPoint(p.pos[0], p.pos[1] + 1, p.pos[2]).inView));
    assert.deepEqual(inView, [true, true], "both figures are in B's view");
    mkdirSync(ARTIFACTS, { recursive: true });
    const png = Buffer.from(await b.screenshot({ type: "png" }));
    writeFileSync(join(ARTIFACTS, "two-pages.png"), png);
    const colours = distinctColours(png);
    assert.ok(colours > 200, `the screenshot has ${colours} distinct colours: a blank page would have a few`);
    assert.deepEqual(pageErrors(a).filter((e) => !/status of 422/.test(e)), [], "no errors on A");
    assert.deepEqual(pageErrors(b).filter((e) => !/status of 422/.test(e)), [], "no errors on B");
  });

  test("a page entering later gets the chat history over HTTP, older pages on scrolling up", async () => {
    await b.evaluate(async () => {
      for (let i = 0; i < 80; i++) await plaza.client.say(`line ${i}`);
    });
    const c = await chromium.open(`${server.url}/?space=${SPACE}&name=carol`);
    try {
      await until(c, "C to join", () => (globalThis as { plaza?: Hook }).plaza?.ready, 30_000);
      // The newest page (50 lines) over HTTP, more than the 10 the join carried.
      const first = await until(c, "the first page of history", () => (plaza.chatLines().length >= 50 ? plaza.chatLines().length : 0), 15_000);
      assert.ok(first < 82, `only one page at first (${first} lines)`);
      assert.equal((await c.evaluate(() => plaza.chatLines())).at(-1), "bob: line 79", "newest last");
      await c.evaluate(() => {
        document.getElementById("chat-log")!.scrollTop = 0;
      });
      const all = await until(c, "every line after scrolling up", () => (plaza.chatLines().length >= 82 ? plaza.chatLines() : null), 15_000);
      assert.deepEqual(all.slice(0, 3), ["alice: hello from alice", "bob: hi alice, bob here", "bob: line 0"], "oldest first, in order");
      assert.equal(new Set(all).size, all.length, "no line twice");
    } finally {
      await c.close();
    }
  });

  test("screen sharing interoperates with the /debug console, both ways", async () => {
    // The console watches A's share (it says what it got in chat)...
    const watcher = await chromium.open(`${server.url}/debug?watch&name=console-watcher&space=${SPACE}&transport=ws`);
    // ...and shares a canvas that this page (B) plays.
    const sharer = await chromium.open(`${server.url}/debug?share=canvas&name=console-sharer&space=${SPACE}&transport=ws`);
    try {
      await until(b, "the console's video line", () => plaza.chatLines().find((line) => /^console-watcher: video \d+x\d+$/.test(line)), 30_000);
      await until(b, "the console's share playing on B", () => plaza.stats.videos >= 2, 30_000);
    } finally {
      await watcher.close();
      await sharer.close();
    }
  });

  test("the start screen lists the space, registers a name and enters it", async () => {
    const page = await chromium.open(`${server.url}/`);
    try {
      const listed = await until(page, "the space in the list", (space: string) => document.querySelector(`#spaces li[data-space="${space}"]`)?.textContent, 15_000, SPACE);
      assert.match(listed, /\d+ online/);
      await page.type("#name", "dora");
      await page.type("#password", "correct horse battery");
      await page.click("#register");
      await until(page, "logged in", () => document.getElementById("who")!.textContent!.startsWith("logged in as dora"));
      await page.click(`#spaces li[data-space="${SPACE}"]`);
      await until(page, "dora in the space", () => (globalThis as { plaza?: Hook }).plaza?.ready);
      const me = await page.evaluate(() => ({ registered: (plaza.client as unknown as { registered: boolean }).registered, url: location.search }));
      assert.deepEqual(me, { registered: true, url: `?space=${SPACE}` });
      await until(b, "dora on B", () => plaza.avatarPositions().some((p) => p.name === "dora"));
    } finally {
      await page.close();
    }
  });
});
