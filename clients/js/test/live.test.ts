// Two SDK clients against a live Plaza server over WebSocket (one postcard, one JSON):
// both join a space; what one does (spawn, chat, pose) the other's mirror shows; a
// refusal rejects the request's promise with the request's ref; and a client whose
// connection drops takes its session back unseen by the other.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket as NodeWebSocket } from "ws";

import {
  Client,
  PlazaError,
  connect,
  createSpace,
  deleteSpace,
  listModels,
  listSpaces,
  modelFileUrl,
  uploadModel,
  yaw,
  type ClientEvents,
  type WebSocketConstructor,
} from "../src/index.js";
import { triangleGlb } from "./glb.js";
import { nextEvent } from "./events.js";
import { TestServer } from "./server.js";

const WAIT_MS = 10_000;
const SPACE = "sdk-live";

/** The next `event` of `client` for which `accept` holds. */
function next<E extends keyof ClientEvents>(
  client: Client,
  event: E,
  accept: (...args: ClientEvents[E]) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<ClientEvents[E]> {
  return nextEvent(client, event, accept, timeoutMs);
}

describe("a live server", () => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;

  before(async () => {
    server = await TestServer.start();
    const common = { url: server.url, transport: "websocket" as const, WebSocket: NodeWebSocket as unknown as WebSocketConstructor };
    alice = await connect({ ...common, name: "alice", codec: "postcard" });
    bob = await connect({ ...common, name: "bob", codec: "json" });
    await alice.join(SPACE);
    await bob.join(SPACE);
    // Alice learns of bob from the delta after his arrival, which may come after his joined.
    if (!alice.space.user(bob.user!)) await next(alice, "userJoined", (user) => user.user === bob.user);
  });

  after(async () => {
    alice?.close();
    bob?.close();
    await server?.stop();
  });

  test("both are in the space, and each sees the other", () => {
    assert.ok(alice.user && bob.user);
    assert.equal(alice.space.name, SPACE);
    assert.equal(bob.space.id, alice.space.id);
    assert.ok(bob.space.user(alice.user), "bob's mirror has alice");
    assert.ok(alice.space.user(bob.user), "alice's mirror has bob");
  });

  test("an object alice spawns appears in bob's mirror", async () => {
    const seen = next(bob, "objectAdded", (object) => object.model === "cube" && object.owner === alice.user);
    const id = await alice.spawn({ model: "cube", transform: { pos: [1, 0, 2] }, props: { color: "red" } });
    const [object] = await seen;
    assert.equal(object.id, id);
    assert.deepEqual(object.props, { color: "red" });
    assert.deepEqual(bob.space.object(id)?.transform.pos, [1, 0, 2]);
  });

  test("a line alice says reaches bob", async () => {
    const heard = next(bob, "chat", (line) => line.from === alice.user);
    const said = await alice.say("héllo from alice");
    const [line] = await heard;
    assert.equal(line.text, "héllo from alice");
    assert.equal(line.id, said.id);
  });

  test("where alice's avatar goes, bob sees it within a millimetre", async () => {
    const target: [number, number, number] = [3.2104, 0.5, -7.8899];
    const moved = next(bob, "userMoved", (user) => user.user === alice.user && Math.abs(user.transform.pos[0] - target[0]) < 0.001);
    alice.pose({ pos: target, rot: yaw(Math.PI / 3) });
    const [user] = await moved;
    user.transform.pos.forEach((v, i) => assert.ok(Math.abs(v - target[i]!) <= 0.001, `axis ${i}: ${v} vs ${target[i]}`));
    const expected = yaw(Math.PI / 3);
    user.transform.rot.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-3, `rotation ${i}: ${v}`));
  });

  test("a refusal rejects the request with its ref", async () => {
    const unknown = "0190c2a8-1d00-7000-8000-00000000dead";
    const error = await alice.despawn(unknown).then(
      () => assert.fail("despawning an unknown object succeeded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof PlazaError, `a PlazaError, got ${String(error)}`);
    assert.equal(error.code, "not_found");
    assert.equal(typeof error.ref, "number");
    assert.ok(error.message.length > 0);
  });

  test("a dropped connection resumes: same user, and bob sees nobody leave", async () => {
    const { user, session } = alice;
    const departures: string[] = [];
    const stopWatching = bob.on("userLeft", (u) => departures.push(u.user));
    const arrivals: string[] = [];
    const stopArrivals = bob.on("userJoined", (u) => arrivals.push(u.user));
    try {
      const back = next(alice, "reconnected");
      const rejoined = next(alice, "joined");
      alice.drop();
      const [{ resumed }] = await back;
      assert.equal(resumed, true, "the session was taken back");
      assert.equal(alice.user, user, "the same user");
      assert.equal(alice.session, session, "the same session");
      await rejoined;
      assert.ok(alice.space.user(bob.user!), "alice's mirror has bob again");
      // Alice is live again: her next pose reaches bob.
      const moved = next(bob, "userMoved", (u) => u.user === alice.user && Math.abs(u.transform.pos[0] + 4) < 0.001);
      alice.pose({ pos: [-4, 0, 1] });
      await moved;
      // And still works for requests.
      const id = await alice.spawn({ model: "cube" });
      assert.ok(id);
      assert.deepEqual(departures, [], "bob saw no one leave");
      assert.deepEqual(arrivals, [], "bob saw no one arrive again");
    } finally {
      stopWatching();
      stopArrivals();
    }
  });
});

describe("the HTTP API through the SDK", () => {
  let server: TestServer;
  let guest: Client;

  before(async () => {
    server = await TestServer.start();
    guest = await connect({ url: server.url, name: "builder", transport: "websocket", WebSocket: NodeWebSocket as unknown as WebSocketConstructor });
  });

  after(async () => {
    guest?.close();
    await server?.stop();
  });

  test("a guest makes a temporary space, unlisted, and deletes it with whoever is in it", async () => {
    const http = { url: server.url, token: guest.sessionToken };
    await assert.rejects(createSpace(http, { name: "lasting" }), (e: PlazaError) => e.code === "forbidden");
    const space = await createSpace(http, { name: "sdk-temporary", temporary: true });
    assert.equal(space.temporary, true);
    assert.ok(!(await listSpaces({ url: server.url })).some((s) => s.name === "sdk-temporary"));
    await guest.join("sdk-temporary");
    const left = new Promise<string>((resolve) => guest.on("left", (id) => resolve(id)));
    assert.equal(await deleteSpace(http, space.id), "deleted");
    assert.equal(await left, space.id, "the client was taken out");
    await assert.rejects(deleteSpace(http, space.id), (e: PlazaError) => e.code === "not_found");
  });

  test("an uploaded model is listed, fetched and placed", async () => {
    const http = { url: server.url, token: guest.sessionToken };
    const model = await uploadModel(http, "triangle.glb", triangleGlb());
    assert.equal(model.deduplicated, false);
    assert.equal((await uploadModel(http, "again.glb", triangleGlb())).id, model.id, "the same bytes, the same model");
    await assert.rejects(uploadModel(http, "broken.glb", new TextEncoder().encode("not a model")), (e: PlazaError) => e.code === "bad_message" && e.status === 422);
    assert.deepEqual((await listModels(http)).map((m) => m.id), [model.id], "my uploads");
    const file = await fetch(modelFileUrl(http, model.id));
    assert.equal(file.status, 200);
    assert.deepEqual(new Uint8Array(await file.arrayBuffer()), triangleGlb());
    await guest.join("sdk-models");
    await guest.spawn({ model: model.id });
    // The space's models are read from the store, which the world writes to every flush.
    let listed: string[] = [];
    for (let tries = 0; tries < 100 && listed.length === 0; tries += 1) {
      listed = (await listModels({ url: server.url }, "sdk-models")).map((m) => m.id);
      if (listed.length === 0) await new Promise((done) => setTimeout(done, 50));
    }
    assert.deepEqual(listed, [model.id], "the space's models");
    await assert.rejects(guest.spawn({ model: "no-such-model" }), (e: PlazaError) => e.code === "not_found");
  });
});
