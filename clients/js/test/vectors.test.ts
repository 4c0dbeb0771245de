// The golden vectors of tests/vectors/ (v2 and v1): for every message, decoding its
// bytes (after absorbing the vector's context) gives its JSON form, encoding the JSON
// form gives exactly its bytes, and the JSON codec writes the JSON form back out. The
// same checks the Rust codec passes (net/src/golden.rs).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  IndexTable,
  decodeClient,
  decodeServer,
  encodeClient,
  encodeServer,
  fromHex,
  toHex,
  type ClientMsg,
  type ServerMsg,
} from "../src/index.js";
import { decodeClientJson, decodeServerJson } from "../src/json.js";
import { decodeClientV1, decodeServerV1, encodeClientV1, encodeServerV1 } from "../src/v1.js";

interface Vector {
  name: string;
  direction: "client" | "server";
  json: Record<string, unknown>;
  postcard: string;
  context?: Record<string, unknown>;
  relative?: boolean;
}

function vectors(version: number): Vector[] {
  const url = new URL(`../../../tests/vectors/v${version}.json`, import.meta.url);
  const file = JSON.parse(readFileSync(url, "utf8")) as { protocol: number; vectors: Vector[] };
  assert.equal(file.protocol, version);
  assert.ok(file.vectors.length > 0, `v${version}.json holds vectors`);
  return file.vectors;
}

/**
 * The vector's JSON with every float of a transform rounded to f32, as "floats in json
 * are the f32 values the bytes hold" (docs/protocol.md, "Golden vectors").
 */
function asF32(value: unknown, inTransform = false): unknown {
  if (Array.isArray(value)) return value.map((v) => asF32(v, inTransform));
  if (typeof value === "number") return inTransform ? Math.fround(value) : value;
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, asF32(v, inTransform || k === "pos" || k === "rot" || k === "scale")]),
  );
}

/** A plain copy (drops the hidden pose bookkeeping, keeps only what JSON shows). */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

function tableWith(context: Record<string, unknown> | undefined): IndexTable {
  const table = new IndexTable();
  if (context) {
    const joined = decodeServer(JSON.stringify(context), "json", table);
    assert.equal(joined?.type, "joined", "a context is a joined message");
  }
  return table;
}

for (const v of vectors(2)) {
  test(`v2 ${v.direction} ${v.name}`, () => {
    const text = JSON.stringify(v.json);
    const bytes = fromHex(v.postcard);
    const expected = asF32(v.json);
    if (v.direction === "client") {
      const msg = decodeClientJson(text);
      assert.equal(toHex(encodeClient(msg, "postcard") as Uint8Array), v.postcard, "JSON form encodes to the bytes");
      const back = decodeClient(bytes, "postcard");
      assert.deepEqual(plain(back), expected, "the bytes decode to the JSON form");
      assert.deepEqual(back, msg, "both codecs decode to the same message");
      const again = JSON.parse(encodeClient(msg, "json") as string) as unknown;
      assert.deepEqual(asF32(again), expected, "JSON out as in");
      assert.deepEqual(again, v.json, "floats written as their shortest f32 decimals");
    } else {
      const msg = decodeServerJson(text);
      // With "relative", avatars are coded against the poses the context gave.
      const known = tableWith(v.context);
      const baseOf = v.relative ? (index: number) => known.person(index)?.pose ?? null : undefined;
      assert.equal(toHex(encodeServer(msg, "postcard", baseOf) as Uint8Array), v.postcard, "JSON form encodes to the bytes");
      const back = decodeServer(bytes, "postcard", tableWith(v.context));
      assert.ok(back, "not dropped as stale");
      assert.deepEqual(plain(back), expected, "the bytes decode to the JSON form");
      const viaJson = decodeServer(text, "json", tableWith(v.context));
      assert.deepEqual(plain(viaJson), plain(back), "both codecs decode to the same message");
      const again = JSON.parse(encodeServer(msg, "json") as string) as unknown;
      assert.deepEqual(asF32(again), expected, "JSON out as in");
      assert.deepEqual(again, v.json, "floats written as their shortest f32 decimals");
    }
  });
}

for (const v of vectors(1)) {
  test(`v1 ${v.direction} ${v.name}`, () => {
    const text = JSON.stringify(v.json);
    const bytes = fromHex(v.postcard);
    const expected = asF32(v.json);
    const [decode, encode] = v.direction === "client" ? [decodeClientV1, encodeClientV1] : [decodeServerV1, encodeServerV1];
    const msg = decode(text, "json");
    assert.equal(toHex(encode(msg, "postcard") as Uint8Array), v.postcard, "JSON form encodes to the bytes");
    assert.deepEqual(decode(bytes, "postcard"), expected, "the bytes decode to the JSON form");
    assert.deepEqual(JSON.parse(encode(msg, "json") as string), v.json, "JSON out as in");
  });
}

test("the worked example of docs/protocol.md: two avatars a step from the context", () => {
  const vector = vectors(2).find((v) => v.name === "delta_relative");
  assert.ok(vector);
  assert.deepEqual(
    [...fromHex(vector.postcard)],
    [6, 101, 0, 0, 9, 2, 0, 0x85, 0x98, 0x02, 0x3b, 0, 0x81, 0x01, 0, 0, 0, 0, 0],
  );
  const delta = decodeServer(fromHex(vector.postcard), "postcard", tableWith(vector.context)) as ServerMsg & { type: "delta" };
  assert.deepEqual(
    delta.avatars.map((a) => a.transform.pos),
    [
      [Math.fround(12.64), 0, Math.fround(-40.28)],
      [Math.fround(-0.001), 0, 0],
    ],
  );
});

test("a relative delta without its context is a desynchronisation, not a crash", () => {
  const vector = vectors(2).find((v) => v.name === "delta_relative");
  assert.ok(vector);
  assert.throws(() => decodeServer(fromHex(vector.postcard), "postcard", new IndexTable()), { name: "MotionDesyncError" });
});

test("every client message the vectors hold survives both codecs", () => {
  for (const v of vectors(2).filter((v) => v.direction === "client")) {
    const msg = decodeClientJson(JSON.stringify(v.json)) as ClientMsg;
    for (const codec of ["postcard", "json"] as const) {
      assert.deepEqual(plain(decodeClient(encodeClient(msg, codec), codec)), plain(msg), `${v.name} in ${codec}`);
    }
  }
});

test("the golden moved vector: the node to go to, in both codecs, ports as u16 varints", () => {
  const vector = vectors(2).find((v) => v.name === "moved");
  assert.ok(vector, "v2.json holds a moved vector");
  const expected: ServerMsg = {
    type: "moved",
    space: "lobby",
    node: "node-b:8700",
    http_url: "http://10.0.0.2:8700",
    quic_port: 8701,
    webtransport_port: 8702,
    cert_sha256: "ab01",
  };
  assert.deepEqual(decodeServer(fromHex(vector.postcard), "postcard", new IndexTable()), expected, "postcard");
  assert.deepEqual(decodeServer(JSON.stringify(vector.json), "json", new IndexTable()), expected, "JSON");
  assert.equal(toHex(encodeServer(expected, "postcard") as Uint8Array), vector.postcard);
  // The last variant of the server's messages, after motion (10).
  assert.equal(fromHex(vector.postcard)[0], 11);
  // 8701 and 8702 as varints: fd 43, fe 43.
  assert.ok(vector.postcard.includes("fd43fe43"));
  // A port past u16 is refused both ways, in both codecs.
  assert.throws(() => encodeServer({ ...expected, quic_port: 65536 }, "postcard"), RangeError);
  assert.throws(() => decodeServer(fromHex(vector.postcard.replace("fd43fe43", "808004fe43")), "postcard", new IndexTable()), { name: "DecodeError" });
  assert.throws(() => decodeServer(JSON.stringify({ ...vector.json, webtransport_port: 65536 }), "json", new IndexTable()), { name: "DecodeError" });
  assert.throws(() => decodeServer(JSON.stringify({ ...vector.json, http_url: null }), "json", new IndexTable()), { name: "DecodeError" });
});
