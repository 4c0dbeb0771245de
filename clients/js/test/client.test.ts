// The client against a scripted in-memory server: garbage from the network becomes
// `error` events and never an exception; refusals reject with their ref; the outbox is
// bounded while disconnected; a dropped client resumes, or joins again in a new session,
// and sends what waited only once back in its space; a close for good is final.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, PlazaError, connect } from "../src/index.js";
import { nextEvent as next, settle } from "./events.js";
import { FakeServer, OTHER_ID, SPACE_ID, USER_ID } from "./fake.js";


async function start(server: FakeServer, options: Partial<Parameters<typeof connect>[0]> = {}): Promise<Client> {
  const client = await connect({
    url: "http://plaza.test:8700",
    name: "me",
    transport: "websocket",
    WebSocket: server.WebSocket,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 5 },
    settleMs: 50,
    heartbeatMs: 0,
    ...options,
  });
  await client.join("lobby");
  return client;
}

test("garbage from the server is an error event, dropped, and the client goes on", async () => {
  for (const codec of ["postcard", "json"] as const) {
    const server = new FakeServer();
    const client = await start(server, { codec });
    const errors: PlazaError[] = [];
    client.on("error", (e) => errors.push(e));
    const socket = server.last;
    socket.raw(new Uint8Array([0xff, 0xff, 0xff]));
    socket.raw(codec === "json" ? "{not json" : "a text frame on a binary connection");
    socket.raw(codec === "json" ? '{"type":"delta","tick":"soon"}' : new Uint8Array([6, 101, 0]));
    socket.raw(codec === "json" ? '{"type":"warp"}' : new Uint8Array([4, 0x10, 1, 2]));
    socket.raw(codec === "json" ? "[]" : new Uint8Array([]));
    await settle();
    assert.equal(errors.length, 5, `${codec}: one error per bad frame: ${errors.map((e) => e.message).join("; ")}`);
    assert.ok(errors.every((e) => e instanceof PlazaError && e.code === "bad_frame"));
    const heard = next(client, "chat");
    socket.deliver({ type: "chat", id: SPACE_ID, from: OTHER_ID, name: "other", text: "still here", at: "2026-12-02T16:00:00.000Z" });
    assert.equal((await heard)[0].text, "still here");
    assert.equal(client.state, "open");
    client.close();
  }
});

test("motion out of step with the client's picture reconnects to start over", async () => {
  const server = new FakeServer();
  const client = await start(server);
  const desync = next(client, "error", (e) => e.code === "desync");
  // A relative avatar entry (flags 0x81) for index 7, which nobody holds.
  server.last.raw(new Uint8Array([6, 102, 0, 0, 4, 1, 7, 0x81, 0x02, 0, 0, 0, 0, 0]));
  await desync;
  const [{ resumed }] = await next(client, "reconnected");
  assert.equal(resumed, true);
  assert.equal(server.sockets.length, 2);
  assert.equal(server.sockets[0]!.endedBy, "terminated", "the old link was dropped, not closed");
  client.close();
});

test("a refusal rejects the request with its code and ref; other refusals are events", async () => {
  const server = new FakeServer();
  server.script = (socket, msg) => {
    if (msg.type === "spawn") socket.deliver({ type: "error", code: "too_large", message: "too many objects", ref: msg.ref });
    return msg.type === "spawn";
  };
  const client = await start(server);
  const error = await client.spawn({ model: "cube" }).catch((e: unknown) => e);
  assert.ok(error instanceof PlazaError);
  assert.equal(error.code, "too_large");
  assert.equal(error.ref, server.all("spawn")[0]!.ref);
  const unexpected = next(client, "error");
  server.last.deliver({ type: "error", code: "rate_limited", message: "slow down", ref: null });
  assert.equal((await unexpected)[0].code, "rate_limited");
  client.close();
});

test("requests the server does not answer settle: by their effect, or after a quiet period", async () => {
  const server = new FakeServer();
  const object = "0190c2a8-1d00-7000-8000-0000000000ff";
  server.script = (socket, msg) => {
    if (msg.type === "despawn") {
      socket.deliver({ type: "delta", tick: 200, objects: [], removed: [object], avatars: [], joined: [], left: [], appeared: [], vanished: [], hidden: [] });
    }
    return msg.type === "despawn" || msg.type === "signal";
  };
  const client = await start(server);
  await client.despawn(object);
  const started = Date.now();
  await client.signal(OTHER_ID, "offer");
  assert.ok(Date.now() - started >= 45, "a signal counts as delivered only after the quiet period");
  const bad = await client.move("not-a-uuid", {}).catch((e: unknown) => e);
  assert.ok(bad instanceof PlazaError && bad.code === "invalid_request", "a malformed id is refused before sending");
  client.close();
});

test("while disconnected, requests wait in a bounded queue and poses keep only the newest", async () => {
  const server = new FakeServer();
  const client = await start(server, { maxQueuedMessages: 2, reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAttempts: 1 } });
  server.last.drop();
  await settle(1);
  assert.equal(client.state, "reconnecting");
  const first = client.say("one");
  const second = client.say("two");
  const third = await client.say("three").catch((e: unknown) => e);
  assert.ok(third instanceof PlazaError && third.code === "queue_full");
  client.pose({ pos: [1, 0, 0] });
  client.pose({ pos: [2, 0, 0] });
  client.close();
  for (const waiting of [first, second]) {
    const error = await waiting.catch((e: unknown) => e);
    assert.ok(error instanceof PlazaError && error.code === "closed");
  }
  assert.equal(server.all("chat").length, 0, "nothing queued went out after the close");
});

test("a connection slower than the sender refuses requests and drops poses past the bound", async () => {
  const server = new FakeServer();
  const client = await start(server, { maxBufferedBytes: 1000 });
  server.last.bufferedAmount = 5000;
  const refused = await client.say("into the backlog").catch((e: unknown) => e);
  assert.ok(refused instanceof PlazaError && refused.code === "queue_full", String(refused));
  client.pose({ pos: [3, 0, 0] });
  await settle();
  assert.equal(server.all("chat").length, 0);
  assert.equal(server.all("pose").length, 0, "the stale pose was dropped");
  server.last.bufferedAmount = 0;
  client.pose({ pos: [4, 0, 0] });
  const answered = client.say("after the backlog").catch((e: unknown) => e);
  await settle();
  assert.equal(server.all("pose").length, 1);
  assert.deepEqual(server.all("chat").map((c) => c.text), ["after the backlog"]);
  client.close();
  await answered;
});

test("a dropped client resumes with the welcome's token and sends what waited", async () => {
  const server = new FakeServer();
  const client = await start(server);
  const leftEvents: string[] = [];
  client.on("userLeft", (u) => leftEvents.push(u.user));
  server.last.drop();
  client.pose({ pos: [5, 0, 0] });
  client.pose({ pos: [6, 0, 0] });
  const back = next(client, "reconnected");
  const chatSent = client.say("after the drop");
  const [{ resumed }] = await back;
  assert.equal(resumed, true);
  const hellos = server.all("hello");
  assert.equal(hellos[1]!.resume, "resume-2", "the resume token of the first welcome");
  assert.equal(hellos[1]!.secret, "guest-secret", "the guest secret of the first welcome");
  await settle();
  const afterDrop = server.received.filter((r) => r.socket === server.last).map((r) => r.msg.type);
  assert.deepEqual(afterDrop, ["hello", "chat", "pose"], "what waited went out once, the newest pose last");
  assert.deepEqual(server.all("pose").at(-1)?.transform.pos, [6, 0, 0]);
  server.last.deliver({ type: "chat", id: SPACE_ID, from: USER_ID, name: "me", text: "after the drop", at: "2026-12-02T16:00:00.000Z" });
  assert.equal((await chatSent).text, "after the drop");
  assert.deepEqual(leftEvents, [], "the same space, the same people: no one left");
  client.close();
});

test("past the grace period a new session joins the space again before anything else", async () => {
  const server = new FakeServer();
  const client = await start(server);
  server.resumable = false;
  server.last.drop();
  const chatSent = client.say("in the new session");
  const [{ resumed }] = await next(client, "reconnected");
  assert.equal(resumed, false);
  await settle();
  const afterDrop = server.received.filter((r) => r.socket === server.last).map((r) => r.msg.type);
  assert.deepEqual(afterDrop, ["hello", "join", "chat"], "the join first, the queued chat once joined");
  server.last.deliver({ type: "chat", id: SPACE_ID, from: USER_ID, name: "me", text: "in the new session", at: "2026-12-02T16:00:00.000Z" });
  await chatSent;
  client.close();
});

test("a request sent before a drop is rejected as disconnected, not silently lost", async () => {
  const server = new FakeServer();
  server.script = (_socket, msg) => msg.type === "spawn";
  const client = await start(server);
  const spawning = client.spawn({ model: "cube" });
  await settle();
  server.last.drop();
  const error = await spawning.catch((e: unknown) => e);
  assert.ok(error instanceof PlazaError && error.code === "disconnected");
  await next(client, "reconnected");
  client.close();
});

test("a close for good (kicked, replaced) ends the client without reconnecting", async () => {
  const server = new FakeServer();
  const client = await start(server);
  const closed = next(client, "closed");
  server.last.closeWith(1008, "replaced by a newer session of the same user");
  const [info] = await closed;
  assert.equal(info.code, 1008);
  assert.equal(client.state, "closed");
  await settle(30);
  assert.equal(server.sockets.length, 1, "no reconnect");
  const error = await client.say("hello?").catch((e: unknown) => e);
  assert.ok(error instanceof PlazaError && error.code === "closed");
});

test("a refused hello fails connect with the server's code", async () => {
  const server = new FakeServer();
  server.script = (socket, msg) => {
    if (msg.type === "hello") socket.deliver({ type: "error", code: "unauthorized", message: "the name is taken", ref: null });
    return true;
  };
  const error = await start(server).catch((e: unknown) => e);
  assert.ok(error instanceof PlazaError);
  assert.equal(error.code, "unauthorized");
});

test("closing while the hello is unanswered rejects connect at once", async () => {
  const server = new FakeServer();
  server.script = () => true;
  const client = new Client({ url: "http://plaza.test:8700", name: "me", transport: "websocket", WebSocket: server.WebSocket, heartbeatMs: 0 });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.all("hello").length, 1);
  const started = Date.now();
  client.close();
  const error = await client.opened.catch((e: unknown) => e);
  assert.ok(error instanceof PlazaError && error.code === "closed");
  assert.ok(Date.now() - started < 1000);
});

test("a join of a full space waits in line past the request timeout and resolves when let in", async () => {
  const server = new FakeServer();
  server.script = (socket, msg) => {
    if (msg.type === "join" && msg.space === "stage") {
      socket.deliver({ type: "queued", space: "stage", position: 2 });
      return true;
    }
    return false;
  };
  const client = await start(server, { requestTimeoutMs: 60 });
  const places: number[] = [];
  client.on("queued", (space, position) => places.push(space === "stage" ? position : -1));
  const entering = client.join("stage");
  await settle();
  server.last.deliver({ type: "queued", space: "stage", position: 1 });
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.deepEqual(places, [2, 1], "each place is an event");
  assert.equal(client.space.name, "lobby", "still in the space it was in");
  server.last.deliver(server.joined("stage"));
  assert.equal((await entering).name, "stage", "no timeout while waiting; joined resolves it");

  // A full line refuses the join with `full`; leaving gives a place up.
  server.script = (socket, msg) => {
    if (msg.type === "join" && msg.space === "arena") socket.deliver({ type: "error", code: "full", message: "the line is full", ref: msg.ref ?? null });
    if (msg.type === "join" && msg.space === "hall") socket.deliver({ type: "queued", space: "hall", position: 7 });
    return msg.type === "join";
  };
  const refused = await client.join("arena").catch((e: unknown) => e);
  assert.ok(refused instanceof PlazaError && refused.code === "full", String(refused));
  const waiting = client.join("hall").catch((e: unknown) => e);
  await settle();
  server.script = (socket, msg) => {
    if (msg.type === "leave") socket.deliver({ type: "left", space: SPACE_ID });
    return msg.type === "leave";
  };
  await client.leave();
  const given = await waiting;
  assert.ok(given instanceof PlazaError && given.code === "superseded", String(given));
  client.close();
});
