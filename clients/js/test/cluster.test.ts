// Following `moved` between two real Plaza nodes of one cluster (two servers on one
// PostgreSQL schema and one Redis prefix): a client that joins a space through the node
// that does not own it is sent to its owner and ends up there with everything in it; an
// admin moving the space to the other node takes both clients along, mirrors and all.
//
// Each run gets its own PostgreSQL schema (made and dropped with `psql`: the package has
// no PostgreSQL client) and Redis prefix. Unreachable services fail the test, never skip
// it: ./scripts/test.sh starts them.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createConnection } from "node:net";
import { after, describe, test } from "node:test";
import { WebSocket as NodeWebSocket } from "ws";

import { connect, type Client, type ClientEvents, type MsgOf, type ServerMsg, type WebSocketConstructor } from "../src/index.js";
import { nextEvent } from "./events.js";
import { TestServer } from "./server.js";

const WAIT_MS = 5_000;
const SPACE = "hall";
const ADMIN_TOKEN = "js-cluster-admin-token-0123456789";
// The services' addresses: ./scripts/test.sh exports these, as for the Rust tests.
const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const SERVICES_HINT = "run ./scripts/test.sh, which starts PostgreSQL and Redis";

/** The next `event` of `client` for which `accept` holds; `what` names it in the failure. */
function next<E extends keyof ClientEvents>(
  client: Client,
  what: string,
  event: E,
  accept: (...args: ClientEvents[E]) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<ClientEvents[E]> {
  return nextEvent(client, event, accept, timeoutMs, what);
}

/** Runs one SQL statement with psql; a failure says to start the services. */
function psql(sql: string): Promise<void> {
  const args = ["-d", DATABASE_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql];
  return new Promise((resolve, reject) => {
    execFile("psql", args, { timeout: 10_000 }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const why = (error as NodeJS.ErrnoException).code === "ENOENT" ? "psql is not installed" : stderr.trim() || error.message;
      reject(new Error(`PostgreSQL at ${DATABASE_URL} could not run ${JSON.stringify(sql)}: ${why}; ${SERVICES_HINT}`));
    });
  });
}

/** Sends Redis one command (RESP) and resolves with its raw reply; unreachable, it says to start the services. */
function redis(...args: string[]): Promise<string> {
  const url = new URL(REDIS_URL);
  const address = { host: url.hostname || "127.0.0.1", port: Number(url.port || 6379) };
  const command = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`Redis at ${REDIS_URL} is unreachable (${why}); ${SERVICES_HINT}`));
    };
    const socket = createConnection(address, () => socket.write(command));
    socket.setTimeout(5_000, () => fail("no answer within 5 s"));
    socket.once("error", (error) => fail(error.message));
    socket.once("data", (data) => {
      socket.end();
      resolve(data.toString());
    });
  });
}

/** Deletes every Redis key under `prefix` (the nodes keep space snapshots there with no expiry). */
const DELETE_PREFIXED = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do redis.call('DEL', k) n = n + 1 end return n";

interface ClusterView {
  node: string | null;
  nodes: Array<{ node: string; live: boolean; http_url: string }>;
}

async function clusterView(server: TestServer): Promise<ClusterView> {
  const response = await fetch(`${server.url}/api/cluster`);
  assert.equal(response.status, 200, `GET ${server.url}/api/cluster answered ${response.status}: ${await response.clone().text()}`);
  return (await response.json()) as ClusterView;
}

/** Waits until `server` sees every node of `ids` live (a move to a node it does not see yet is refused). */
async function seesLive(server: TestServer, ids: string[], timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let view: ClusterView;
  do {
    view = await clusterView(server);
    if (ids.every((id) => view.nodes.some((n) => n.node === id && n.live))) return;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < deadline);
  assert.fail(`${server.url} does not see nodes ${ids.join(", ")} live within ${timeoutMs} ms: ${JSON.stringify(view)}`);
}

describe("two live nodes of a cluster", { timeout: 90_000 }, () => {
  const run = randomBytes(8).toString("hex");
  const schema = `it_js_${run}`;
  let schemaMade = false;
  let redisUsed = false;
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  let aNode = "";
  let bNode = "";
  const clients: Client[] = [];

  // In the test rather than a before hook, so that unreachable services count as a
  // failed test (a hook's failure only cancels it).
  async function setUp(): Promise<void> {
    const pong = await redis("PING");
    assert.ok(pong.startsWith("+PONG"), `Redis at ${REDIS_URL} answered PING with ${JSON.stringify(pong.trim())}; ${SERVICES_HINT}`);
    redisUsed = true;
    await psql(`CREATE SCHEMA ${schema}`);
    schemaMade = true;
    const env = {
      PLAZA_DATABASE_URL: `${DATABASE_URL}${DATABASE_URL.includes("?") ? "&" : "?"}options[search_path]=${schema}`,
      PLAZA_REDIS_URL: REDIS_URL,
      PLAZA_REDIS_PREFIX: `js:${run}:`,
      PLAZA_ADMIN_TOKEN: ADMIN_TOKEN,
    };
    a = await TestServer.start(env);
    b = await TestServer.start(env);
    aNode = (await clusterView(a)).node ?? assert.fail(`node A (${a.url}) is not in a cluster: GET /api/cluster has node null`);
    bNode = (await clusterView(b)).node ?? assert.fail(`node B (${b.url}) is not in a cluster: GET /api/cluster has node null`);
    assert.notEqual(aNode, bNode, "the two nodes have different ids");
    await seesLive(a, [aNode, bNode]);
    await seesLive(b, [aNode, bNode]);
  }

  after(async () => {
    for (const client of clients) client.close();
    await Promise.all([a?.stop(), b?.stop()]);
    if (schemaMade) await psql(`DROP SCHEMA ${schema} CASCADE`);
    if (redisUsed) await redis("EVAL", DELETE_PREFIXED, "0", `js:${run}:`);
  });

  /** Both servers' logs, for a failure message. */
  const logs = () => `\n--- node A (${a?.url}) log:\n${a?.output ?? ""}\n--- node B (${b?.url}) log:\n${b?.output ?? ""}`;

  test("a join through the other node follows moved to the owner; an admin move takes both clients along", async (t) => {
    await setUp();
    assert.ok(a && b);
    const common = { transport: "websocket" as const, WebSocket: NodeWebSocket as unknown as WebSocketConstructor, heartbeatMs: 0 };
    const errors: string[] = [];
    const watch = (who: string, client: Client) => {
      clients.push(client);
      client.on("error", (e) => errors.push(`${who}: ${e.code}: ${e.message}`));
      return client;
    };

    // 1. Alice joins the hall on A, which claims it, and spawns a cube.
    const alice = watch("alice", await connect({ ...common, url: a.url, name: "alice", codec: "postcard" }));
    await alice.join(SPACE);
    const spaceId = alice.space.id;
    assert.ok(spaceId, "alice's mirror has the space's id");
    const cube = await alice.spawn({ model: "cube", transform: { pos: [1, 2, 3] }, props: { by: "alice" } });

    // 2. Bob asks B for the hall: B sends him to A, and he ends up in it there.
    const bob = watch("bob", await connect({ ...common, url: b.url, name: "bob", codec: "json" }));
    const bobsSession = bob.session;
    const bobMoves: Array<[MsgOf<ServerMsg, "moved">, boolean]> = [];
    bob.on("moved", (m, following) => bobMoves.push([m, following]));
    const joined = await bob.join(SPACE).catch((e: unknown) => assert.fail(`bob's join through B failed: ${String(e)}${logs()}`));
    assert.equal(bobMoves.length, 1, `bob got exactly one moved, got ${JSON.stringify(bobMoves)}`);
    const [movedToA, following] = bobMoves[0]!;
    assert.equal(following, true, "bob follows the move");
    assert.equal(movedToA.space, SPACE);
    assert.equal(movedToA.node, aNode, "B sends bob to A, the owner");
    assert.equal(movedToA.http_url, a.url, "the moved names A's HTTP address");
    assert.equal(bob.url, a.url, "bob is now connected to A");
    assert.equal(bob.session, bobsSession, "A took bob's session over from B (his resume token)");
    assert.equal(bob.state, "open");
    assert.equal(joined.id, spaceId, "bob is in alice's space");
    const cubeSeen = bob.space.object(cube);
    assert.ok(cubeSeen, `bob's mirror has alice's cube ${cube}; it has ${JSON.stringify([...bob.space.objects.keys()])}`);
    assert.deepEqual(cubeSeen.transform.pos, [1, 2, 3]);
    assert.deepEqual(cubeSeen.props, { by: "alice" });

    // Bob's spawn on A reaches alice.
    const aliceSees = next(alice, "alice seeing bob's sphere", "objectAdded", (o) => o.model === "sphere");
    const sphere = await bob.spawn({ model: "sphere", transform: { pos: [4, 0, 0] } });
    const [added] = await aliceSees;
    assert.equal(added.id, sphere);
    assert.equal(added.owner, bob.user);

    // 3. An admin moves the hall from A to B through A: both clients follow to B.
    const movedTo = (client: Client, who: string) =>
      next(client, `${who} getting moved to B`, "moved", (m) => m.space === SPACE).then(([m, follows]) => {
        assert.equal(follows, true, `${who} follows the move`);
        assert.equal(m.node, bNode, `${who}'s moved names node B`);
        assert.equal(m.http_url, b!.url, `${who}'s moved names B's HTTP address`);
      });
    const rejoined = (client: Client, who: string) => next(client, `${who} joining on B after the move`, "joined", () => client.url === b!.url);
    const waits = [movedTo(alice, "alice"), movedTo(bob, "bob"), rejoined(alice, "alice"), rejoined(bob, "bob")];
    const sessionsOnA = { alice: alice.session, bob: bob.session };
    const started = Date.now();
    const response = await fetch(`${a.url}/api/admin/spaces/${spaceId}/move`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ to: bNode }),
    });
    const answer = await response.text();
    assert.equal(response.status, 200, `POST /api/admin/spaces/${spaceId}/move on A: ${response.status} ${answer}${logs()}`);
    const body = JSON.parse(answer) as { space: string; to: string; out_of_service_ms: number };
    assert.equal(body.to, bNode);
    assert.equal(typeof body.out_of_service_ms, "number", `the answer says how long the space was out of service: ${answer}`);
    try {
      await Promise.all(waits);
    } catch (error) {
      assert.fail(`${error instanceof Error ? error.message : String(error)}${logs()}`);
    }
    const tookMs = Date.now() - started;

    for (const [who, client] of [["alice", alice], ["bob", bob]] as const) {
      assert.equal(client.url, b.url, `${who} is now connected to B`);
      assert.equal(client.state, "open", `${who} is connected`);
      assert.equal(client.space.id, spaceId, `${who} is in the hall on B`);
      assert.equal(client.session, sessionsOnA[who], `${who} has the session she had on A`);
      for (const [what, id] of [["alice's cube", cube], ["bob's sphere", sphere]] as const) {
        assert.ok(client.space.object(id), `${who}'s mirror on B has ${what} ${id}; it has ${JSON.stringify([...client.space.objects.keys()])}`);
      }
    }
    assert.deepEqual(alice.space.object(cube)?.transform.pos, [1, 2, 3], "the cube kept its place");
    assert.deepEqual(bob.space.object(sphere)?.transform.pos, [4, 0, 0], "the sphere kept its place");

    // Still live on B: what one does there the other sees.
    const bobSees = next(bob, "bob seeing alice's cone on B", "objectAdded", (o) => o.model === "cone");
    const cone = await alice.spawn({ model: "cone" });
    assert.equal((await bobSees)[0].id, cone);
    assert.deepEqual(errors, [], "no error events");
    // One entry per person in the cluster's session list, on B.
    const listed = await fetch(`${a.url}/api/admin/sessions`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const list = (await listed.json()) as { sessions: Array<{ session: string; node: string }> };
    for (const [who, session] of Object.entries(sessionsOnA)) {
      const entries = list.sessions.filter((s) => s.session === session);
      assert.deepEqual(entries.map((s) => s.node), [bNode], `${who}'s session is listed once, on B: ${JSON.stringify(list)}`);
    }
    // The move's own timing, for the report (not asserted beyond the waits above).
    t.diagnostic(`the move took ${tookMs} ms from the request to both clients joined on B (out of service ${body.out_of_service_ms} ms)`);
  });
});
