// Following `moved` against scripted in-memory nodes of a cluster (no server binary): the
// client closes the old node's link, says hello to the node named with the same
// credentials and no resume token, joins the space there and starts the mirror over; a
// join answered with `moved` resolves with the other node's `joined`; on WebTransport
// it goes to the node's WebTransport with the `moved`'s certificate hash, else to its
// WebSocket; nodes sending it back and forth are followed a bounded number of times.
//
// The same against two real nodes of one cluster is test/cluster.test.ts; the Rust side
// tests the cluster itself.

import assert from "node:assert/strict";
import { test } from "node:test";

import { connect, type MsgOf, type PlazaError, type ServerMsg } from "../src/index.js";
import { followTarget } from "../src/connection.js";
import { nextEvent as next, settle } from "./events.js";
import { FakeServer, SPACE_ID, USER_ID, cluster, fakeWebTransport, type OpenedWebTransport } from "./fake.js";

const A = "node-a.test:8700";
const B = "node-b.test:8700";
const HASH = "ab".repeat(32);


function moved(to: string, fields: Partial<MsgOf<ServerMsg, "moved">> = {}): MsgOf<ServerMsg, "moved"> {
  return { type: "moved", space: "lobby", node: to, http_url: `http://${to}`, quic_port: 0, webtransport_port: 0, cert_sha256: HASH, ...fields };
}

function nodes(): { a: FakeServer; b: FakeServer; options: Parameters<typeof connect>[0] } {
  const a = new FakeServer("node-a");
  const b = new FakeServer("node-b");
  return {
    a,
    b,
    options: {
      url: `http://${A}`,
      name: "me",
      transport: "websocket",
      WebSocket: cluster({ [A]: a, [B]: b }),
      reconnect: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 5 },
      settleMs: 50,
      heartbeatMs: 0,
    },
  };
}

test("a moved while in the space: the same credentials to the node named, the space joined there, the mirror started over", async () => {
  for (const codec of ["postcard", "json"] as const) {
    const { a, b, options } = nodes();
    const client = await connect({ ...options, codec });
    await client.join("lobby");
    const events: string[] = [];
    client.on("moved", (m, following) => events.push(`moved ${m.node} ${following}`));
    client.on("reconnecting", ({ delayMs }) => events.push(`reconnecting ${delayMs}`));
    client.on("reconnected", ({ resumed }) => events.push(`reconnected ${resumed}`));
    client.on("userLeft", (u, reason) => events.push(`left ${u.name} ${reason}`));
    client.on("userJoined", (u) => events.push(`joined ${u.name}`));
    const joined = next(client, "joined");
    a.last.deliver(moved(B));
    await joined;
    assert.deepEqual(
      events,
      ["moved node-b.test:8700 true", "reconnecting 0", "reconnected false", "left me cleared", "left other cleared", "joined me", "joined other"],
      `${codec}: the move, a reconnect at once, the mirror reset on the new joined`,
    );
    assert.equal(a.sockets.length, 1);
    assert.equal(a.last.endedBy, 1000, "the old node's link closed (the node holds the session for the next)");
    assert.equal(new URL(b.last.url).origin, "ws://node-b.test:8700");
    assert.equal(new URL(b.last.url).pathname, "/ws");
    const [hello] = b.all("hello");
    assert.equal(hello?.name, "me");
    assert.equal(hello?.secret, "guest-secret", "the guest secret the first node gave");
    assert.equal(hello?.resume, "resume-2@node-a", "the first node's resume token: the next one takes the session over");
    assert.deepEqual(b.received.map((r) => r.msg.type), ["hello", "join"]);
    assert.equal(b.all("join")[0]?.space, "lobby");
    assert.equal(client.url, `http://${B}`);
    assert.equal(client.state, "open");
    assert.equal(client.space.name, "lobby");
    assert.equal(client.space.users.size, 2);
    // Requests go to the new node.
    const said = client.say("on node b");
    await settle();
    assert.equal(b.all("chat")[0]?.text, "on node b");
    b.last.deliver({ type: "chat", id: SPACE_ID, from: USER_ID, name: "me", text: "on node b", at: "2026-12-02T16:00:00.000Z" });
    await said;
    // A drop on the new node reconnects there, not to the first one.
    b.last.drop();
    await next(client, "reconnected");
    assert.equal(a.sockets.length, 1);
    assert.equal(b.sockets.length, 2);
    client.close();
  }
});

test("a join answered with moved resolves with the other node's joined; a token goes along; https means wss", async () => {
  const { a, b, options } = nodes();
  a.script = (socket, msg) => {
    if (msg.type !== "join") return false;
    socket.deliver(moved(B, { http_url: `https://${B}` }));
    return true;
  };
  const client = await connect({ ...options, name: undefined, token: "login-token" });
  const space = await client.join("lobby");
  assert.equal(space.name, "lobby");
  assert.equal(space.id, SPACE_ID);
  assert.equal(new URL(b.last.url).origin, "wss://node-b.test:8700");
  assert.equal(b.all("hello")[0]?.token, "login-token");
  assert.equal(b.all("hello")[0]?.name, "");
  assert.equal(b.all("join")[0]?.ref, a.all("join")[0]?.ref, "the same join, with its ref");
  assert.equal(client.url, `https://${B}`);
  client.close();
});

test("nodes sending the client back and forth are followed three times, then the join fails with moved_too_often", async () => {
  const { a, b, options } = nodes();
  a.script = (socket, msg) => msg.type === "join" && (socket.deliver(moved(B)), true);
  b.script = (socket, msg) => msg.type === "join" && (socket.deliver(moved(A)), true);
  const client = await connect(options);
  const follows: boolean[] = [];
  client.on("moved", (_m, following) => follows.push(following));
  const error = (await client.join("lobby").catch((e: unknown) => e)) as PlazaError;
  assert.equal(error.code, "moved_too_often", String(error));
  assert.deepEqual(follows, [true, true, true, false]);
  assert.equal(a.sockets.length, 2);
  assert.equal(b.sockets.length, 2);
  assert.equal(client.state, "open", "still connected, in no space");
  assert.equal(client.space.id, null);
  // Nothing is joined again by itself after that.
  await settle(30);
  assert.equal(b.all("join").length, 2);
  client.close();
});

test("with followMoves off the join fails with moved and the client stays; a moved for another space is stale", async () => {
  const { a, b, options } = nodes();
  const client = await connect({ ...options, followMoves: false });
  await client.join("lobby");
  const errors: PlazaError[] = [];
  client.on("error", (e) => errors.push(e));
  const heard: Array<[string, boolean]> = [];
  client.on("moved", (m, following) => heard.push([m.space, following]));
  a.last.deliver(moved(B, { space: "elsewhere" }));
  await settle();
  assert.deepEqual(heard, [], "not about the client's space: ignored");
  assert.equal(client.space.users.size, 2);
  a.last.deliver(moved(B));
  await settle();
  assert.deepEqual(heard, [["lobby", false]]);
  assert.equal(errors[0]?.code, "moved");
  assert.equal(client.space.id, null, "in no space now");
  assert.equal(b.sockets.length, 0);
  a.script = (socket, msg) => msg.type === "join" && (socket.deliver(moved(B)), true);
  const error = (await client.join("lobby").catch((e: unknown) => e)) as PlazaError;
  assert.equal(error.code, "moved");
  assert.equal(client.state, "open");
  client.close();
});

test("on WebTransport a moved goes to the node's WebTransport, its certificate pinned by the moved's hash", async () => {
  for (const refuseB of [false, true]) {
    const { a, b, options } = nodes();
    const opened: OpenedWebTransport[] = [];
    const fetched: string[] = [];
    const client = await connect({
      ...options,
      transport: "auto",
      poseDatagrams: false,
      WebTransport: fakeWebTransport({ "node-a.test:8701": a, "node-b.test:8702": b }, opened, new Set(refuseB ? ["node-b.test:8702"] : [])),
      fetch: (async (input: string | URL) => {
        fetched.push(String(input));
        return new Response(JSON.stringify({ algorithm: "sha-256", bytes: new Array(32).fill(1), webtransport_port: 8701 }));
      }) as typeof fetch,
    });
    assert.equal(client.transport, "webtransport");
    await client.join("lobby");
    const fallbacks: string[] = [];
    client.on("fallback", (why) => fallbacks.push(why));
    const joined = next(client, "joined");
    a.last.deliver(moved(B, { webtransport_port: 8702, quic_port: 8701 }));
    await joined;
    assert.deepEqual(fetched, ["http://node-a.test:8700/cert-hash"], "no /cert-hash asked of the new node");
    assert.equal(opened[1]?.url, "https://node-b.test:8702/wt");
    const pinned = opened[1]?.options?.serverCertificateHashes?.[0];
    assert.equal(pinned?.algorithm, "sha-256");
    assert.deepEqual([...new Uint8Array(pinned?.value as ArrayBuffer)], new Array(32).fill(0xab));
    assert.equal(a.sockets[0]!.endedBy, 1000);
    assert.equal(b.all("hello")[0]?.secret, "guest-secret");
    if (refuseB) {
      assert.equal(client.transport, "websocket", "the node's WebSocket when its WebTransport fails");
      assert.equal(new URL(b.last.url).origin, "ws://node-b.test:8700");
      assert.equal(fallbacks.length, 1);
    } else {
      assert.equal(client.transport, "webtransport");
      assert.equal(b.last.url, "https://node-b.test:8702/wt");
    }
    client.close();
  }
});

test("followTarget: WebTransport only from a WebTransport link to a node that has it; else the node's WebSocket", () => {
  const msg = moved("node-b:8700", { http_url: "http://10.0.0.2:8700", webtransport_port: 8702, cert_sha256: HASH.toUpperCase() });
  const wt = followTarget(msg, "webtransport", "auto");
  assert.equal(wt.url, "http://10.0.0.2:8700");
  assert.equal(wt.transport, "auto");
  assert.equal(wt.webTransport?.url, "https://10.0.0.2:8702/wt");
  assert.deepEqual([...wt.webTransport!.certificateHash!], new Array(32).fill(0xab));
  assert.equal(followTarget(msg, "webtransport", "webtransport").transport, "webtransport", "no fallback when only WebTransport was asked for");
  assert.equal(followTarget({ ...msg, cert_sha256: "ab01" }, "webtransport", "auto").webTransport?.certificateHash, null, "not a SHA-256: asked of /cert-hash");
  for (const [current, port] of [["websocket", 8702], ["webtransport", 0], [null, 8702]] as const) {
    assert.deepEqual(followTarget({ ...msg, webtransport_port: port }, current, "auto"), { url: "http://10.0.0.2:8700", transport: "websocket", webTransport: null });
  }
  assert.equal(followTarget({ ...msg, http_url: "http://[::1]:8700" }, "webtransport", "auto").webTransport?.url, "https://[::1]:8702/wt");
  assert.throws(() => followTarget({ ...msg, http_url: "ftp://10.0.0.2" }, "websocket", "auto"), { code: "bad_frame" });
  assert.throws(() => followTarget({ ...msg, http_url: "node-b" }, "websocket", "auto"), { code: "bad_frame" });
});

test("a node a moved named that cannot be connected to twice in a row: back to the url given, the space joined again there (or where it routes)", async () => {
  const C = "node-c.test:8700";
  for (const when of ["joining", "in the space"] as const) {
    const { a, b, options } = nodes();
    const c = new FakeServer("node-c");
    const client = await connect({ ...options, WebSocket: cluster({ [A]: a, [B]: b, [C]: c }) });
    const events: string[] = [];
    client.on("moved", (m, following) => events.push(`moved ${m.node} ${following}`));
    client.on("reconnecting", ({ attempt, reason }) => events.push(`reconnecting ${attempt}${reason.includes(`back to http://${A}`) ? " back" : ""}`));
    client.on("reconnected", ({ resumed }) => events.push(`reconnected ${resumed}`));
    client.on("userLeft", (u, reason) => reason === "cleared" && events.push(`cleared ${u.name}`));
    let joins = 0;
    if (when === "joining") {
      // A sends the first join to B, dead from the start; once back, A owns the space.
      b.refusing = true;
      // A takes its own session back, but it had sent it elsewhere: in no space, not `resumed`.
      a.resumable = false;
      a.script = (socket, msg) => msg.type === "join" && ++joins === 1 && (socket.deliver(moved(B)), true);
      const space = await client.join("lobby");
      assert.equal(space.name, "lobby");
      assert.equal(client.url, `http://${A}`, "the url given again");
      assert.equal(b.sockets.length, 2, "two connects to B, both refused");
      assert.equal(a.sockets.length, 2);
      assert.equal(a.all("join")[1]?.ref, a.all("join")[0]?.ref, "the same join, with its ref");
      assert.deepEqual(events, ["moved node-b.test:8700 true", "reconnecting 1", "reconnecting 2", "reconnecting 3 back", "reconnected false"]);
    } else {
      // In the space on B, which then dies; A, asked again, routes to C, the new owner.
      await client.join("lobby");
      const onB = next(client, "joined");
      a.last.deliver(moved(B));
      await onB;
      a.script = (socket, msg) => msg.type === "join" && (socket.deliver(moved(C)), true);
      events.length = 0;
      const onC = next(client, "joined");
      b.refusing = true;
      b.last.drop();
      await onC;
      assert.equal(client.url, `http://${C}`);
      assert.equal(b.sockets.length, 3, "the link that dropped, then two refused connects");
      assert.equal(a.sockets.length, 2);
      assert.equal(a.all("hello")[1]?.resume, "resume-2@node-b", "B's resume token goes to A, which asks B for the session");
      assert.equal(c.all("join")[0]?.space, "lobby");
      assert.deepEqual(events, [
        "reconnecting 1",
        "reconnecting 2",
        "reconnecting 3 back",
        "reconnected false",
        "moved node-c.test:8700 true",
        "reconnecting 1",
        "reconnected false",
        "cleared me",
        "cleared other",
      ]);
    }
    const [, hello] = a.all("hello");
    assert.equal(hello?.secret, "guest-secret");
    assert.equal(hello?.resume, when === "joining" ? "resume-2@node-a" : "resume-2@node-b", "the last resume token goes along");
    assert.equal(client.state, "open");
    assert.equal(client.space.name, "lobby");
    assert.equal(client.space.users.size, 2);
    client.close();
  }
});

test("a node a moved named that refuses the hello is not given up for the url given: only failed connects count", async () => {
  const { a, b, options } = nodes();
  let hellos = 0;
  b.script = (socket, msg) => msg.type === "hello" && ++hellos <= 2 && (socket.deliver({ type: "error", code: "unavailable", message: "starting", ref: null }), true);
  a.script = (socket, msg) => msg.type === "join" && (socket.deliver(moved(B)), true);
  const client = await connect(options);
  const space = await client.join("lobby");
  assert.equal(space.name, "lobby");
  assert.equal(client.url, `http://${B}`);
  assert.equal(b.all("hello").length, 3);
  assert.equal(a.sockets.length, 1);
  client.close();
});
