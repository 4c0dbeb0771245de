// The codecs and the mirror beyond the golden vectors: whatever bytes arrive, decoding
// fails only with a DecodeError; quantised poses survive their coding; the index table
// drops stale and too-early motion; the mirror keeps the newest object versions and
// follows reused indices.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  DecodeError,
  IndexTable,
  SpaceMirror,
  ZERO_POSE,
  decodeServer,
  encodeServer,
  fromHex,
  quantize,
  readPose,
  transformOf,
  writePose,
  yaw,
  type MsgOf,
  type QPose,
  type ServerMsg,
  type WireObject,
} from "../src/index.js";
import { Reader, Writer } from "../src/postcard.js";

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const vectorBytes = (
  JSON.parse(readFileSync(new URL("../../../tests/vectors/v2.json", import.meta.url), "utf8")) as { vectors: Array<{ direction: string; postcard: string; json: unknown }> }
).vectors.filter((v) => v.direction === "server");

test("mutated and random frames fail only with DecodeError", () => {
  const next = random(7);
  const table = new IndexTable();
  let decoded = 0;
  for (let round = 0; round < 5000; round++) {
    const base = fromHex(vectorBytes[round % vectorBytes.length]!.postcard);
    const bytes = round % 5 === 0 ? Uint8Array.from({ length: Math.floor(next() * 40) }, () => Math.floor(next() * 256)) : base.slice();
    for (let flips = 1 + Math.floor(next() * 3); flips > 0 && bytes.length && round % 5 !== 0; flips--) {
      bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
    }
    const cut = round % 7 === 0 ? bytes.subarray(0, Math.floor(next() * bytes.length)) : bytes;
    try {
      decodeServer(cut, "postcard", table);
      decoded++;
    } catch (error) {
      assert.ok(error instanceof DecodeError, `round ${round}: ${String(error)}`);
    }
  }
  assert.ok(decoded > 0, "some mutations still decode");
});

test("malformed JSON frames fail only with DecodeError", () => {
  const frames = ["", "null", "[]", "7", '{"type":7}', '{"type":"delta"}', '{"type":"joined","space":"x"}', '{"type":"error","code":"nope","message":"m"}'];
  for (const v of vectorBytes) {
    const json = v.json as Record<string, unknown>;
    for (const key of Object.keys(json)) {
      if (key === "type") continue;
      for (const bad of [null, "text", -1, 1.5, [], {}, [[1]]]) frames.push(JSON.stringify({ ...json, [key]: bad }));
    }
  }
  for (const frame of frames) {
    try {
      decodeServer(frame, "json", new IndexTable());
    } catch (error) {
      assert.ok(error instanceof DecodeError, `${frame}: ${String(error)}`);
    }
  }
});

test("rotations and scales survive their coding, absolute and relative", () => {
  const rotations: Array<[number, number, number, number]> = [
    [0, 0, 0, 1],
    [0, 1, 0, 0],
    [0, -0.70710677, 0, 0.70710677],
    [0.18257418, 0.36514837, 0.5477226, 0.73029673],
    [-0.5, 0.5, -0.5, -0.5],
    yaw(2.5),
  ];
  let previous = ZERO_POSE;
  for (const rot of rotations) {
    const pose = quantize({ pos: [-1.0006, 2000, 0.0004], rot, scale: [1, 2.5, 1] });
    const back = transformOf(pose);
    const dot = back.rot.reduce((sum, c, i) => sum + c * rot[i]!, 0);
    assert.ok(Math.abs(dot) > 0.9999, `${rot} came back as ${back.rot}`);
    assert.deepEqual(back.pos, [Math.fround(-1.001), 2000, 0], "millimetres, half away from zero");
    assert.deepEqual(back.scale, [1, 2.5, 1]);
    for (const base of [null, previous]) {
      const w = new Writer();
      writePose(w, pose, base);
      const r = new Reader(w.finish());
      assert.deepEqual(readPose(r, 0, () => previous), pose);
      r.end("pose");
    }
    previous = pose;
  }
  // A walking step against the last pose costs four bytes (the spec's worked example).
  const before = quantize({ pos: [12.5, 0, -40.25], rot: yaw(Math.PI / 4), scale: [1, 1, 1] });
  assert.deepEqual(before.rot, { kind: "yaw", yaw: 8192 });
  const w = new Writer();
  writePose(w, { ...before, pos: [12640, 0, -40280] }, before);
  assert.deepEqual([...w.finish()], [0x85, 0x98, 0x02, 0x3b]);
});

function delta(tick: number, fields: Partial<MsgOf<ServerMsg, "delta">>): MsgOf<ServerMsg, "delta"> {
  return { type: "delta", tick, objects: [], removed: [], avatars: [], joined: [], left: [], appeared: [], vanished: [], hidden: [], ...fields };
}

const A = "00000000-0000-0000-0000-00000000000a";
const B = "00000000-0000-0000-0000-00000000000b";
const O = "0190c2a8-1d00-7000-8000-0000000000ff";
const at = (x: number) => ({ pos: [x, 0, 0] as [number, number, number], rot: [0, 0, 0, 1] as [number, number, number, number], scale: [1, 1, 1] as [number, number, number] });
const cube = (version: number, x: number): WireObject => ({ id: O, index: 0, model: "cube", transform: at(x), props: {}, owner: A, version });

/** Sends `msg` through the binary codec, as a postcard client would get it. */
function receive(table: IndexTable, msg: ServerMsg, baseOf?: (index: number) => QPose | null) {
  return decodeServer(encodeServer(msg, "postcard", baseOf), "postcard", table);
}

test("stale motion and motion about an index announced at its own tick are dropped", () => {
  const table = new IndexTable();
  receive(table, { type: "joined", space: O, name: "s", tick: 10, objects: [cube(1, 0)], users: [{ user: A, index: 0, name: "a", transform: at(0) }], chat: [], shares: [] });
  const motion = (tick: number, x: number): ServerMsg => ({ type: "motion", tick, avatars: [{ index: 0, user: A, transform: at(x) }], objects: [{ index: 0, id: O, transform: at(x), version: tick }] });
  const fresh = receive(table, motion(12, 1)) as MsgOf<ServerMsg, "motion">;
  assert.equal(fresh.avatars.length, 1);
  assert.equal(fresh.objects.length, 1);
  assert.equal(receive(table, motion(11, 2)), null, "an older tick is stale");
  // B arrives at tick 13 with index 1; a motion of tick 13 cannot yet speak of them.
  receive(table, delta(13, { joined: [{ user: B, index: 1, name: "b", transform: at(5) }] }));
  const early = receive(table, { type: "motion", tick: 13, avatars: [{ index: 1, user: B, transform: at(6) }], objects: [] }) as MsgOf<ServerMsg, "motion">;
  assert.deepEqual(early.avatars, []);
  const later = receive(table, { type: "motion", tick: 14, avatars: [{ index: 1, user: B, transform: at(6) }], objects: [] }) as MsgOf<ServerMsg, "motion">;
  assert.deepEqual(later.avatars.map((a) => a.user), [B]);
});

test("the mirror keeps the newest version and follows a reused index", () => {
  const mirror = new SpaceMirror();
  const events: string[] = [];
  mirror.on("objectAdded", (o) => events.push(`added ${o.version}`));
  mirror.on("objectChanged", (o, before) => events.push(`changed ${before.version}->${o.version}`));
  mirror.on("userLeft", (u, why) => events.push(`left ${u.name} ${why}`));
  mirror.on("userJoined", (u) => events.push(`joined ${u.name}`));
  mirror.apply({ type: "joined", space: O, name: "s", tick: 10, objects: [cube(3, 0)], users: [{ user: A, index: 0, name: "a", transform: at(0) }], chat: [], shares: [] });
  mirror.apply(delta(11, { objects: [cube(2, 9)] }));
  mirror.apply({ type: "motion", tick: 12, avatars: [], objects: [{ index: 0, id: O, transform: at(1), version: 3 }] });
  mirror.apply({ type: "motion", tick: 13, avatars: [], objects: [{ index: 0, id: O, transform: at(2), version: 4 }] });
  assert.deepEqual(mirror.object(O)?.transform.pos, [2, 0, 0]);
  mirror.apply(delta(14, { left: [A], joined: [{ user: B, index: 0, name: "b", transform: at(0) }] }));
  assert.equal(mirror.user(0)?.name, "b", "index 0 now names b");
  // The same snapshot again (a resume) tells nothing new.
  mirror.apply({ type: "joined", space: O, name: "s", tick: 20, objects: [{ ...cube(4, 2) }], users: [{ user: B, index: 0, name: "b", transform: at(0) }], chat: [], shares: [] });
  assert.deepEqual(events, ["joined a", "added 3", "changed 3->4", "left a removed", "joined b"]);
  mirror.apply({ type: "left", space: O });
  assert.equal(mirror.objects.size + mirror.users.size, 0);
});
