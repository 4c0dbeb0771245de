// Protocol version 2 in postcard (docs/protocol.md, "Postcard (binary)" and "Messages"),
// and the codec-independent entry points: `encodeClient` for what the client sends and
// `decodeServer` for what it receives, which also resolves compact motion against what
// the client knows of its space. The server-side directions (`encodeServer`,
// `decodeClient`) exist for tests, tools and mock servers.

import { DecodeError, Reader, Writer } from "./postcard.js";
import { keepPose, poseOf, readPose, transformOf, writeAvatarList, writeObjectList, writePose, type QPose } from "./motion.js";
import type { CodedLists, IndexTable } from "./indices.js";
import { decodeClientJson, decodeServerJson, encodeClientJson, encodeServerJson, parseProps, propsText } from "./json.js";
import {
  CLIENT_TYPES,
  CODECS,
  ERROR_CODES,
  SERVER_TYPES,
  SHARE_KINDS,
  type ClientMsg,
  type Codec,
  type ServerMsg,
  type Transform,
  type WireChat,
  type WireObject,
  type WireShare,
  type WireUser,
} from "./types.js";

export { DecodeError };

const utf8 = new TextDecoder("utf-8", { fatal: true });

// --- nested types -------------------------------------------------------------------

function writeTransform(w: Writer, t: Transform): void {
  for (const v of t.pos) w.f32(v);
  for (const v of t.rot) w.f32(v);
  for (const v of t.scale) w.f32(v);
}

function readTransform(r: Reader): Transform {
  return {
    pos: [r.f32(), r.f32(), r.f32()],
    rot: [r.f32(), r.f32(), r.f32(), r.f32()],
    scale: [r.f32(), r.f32(), r.f32()],
  };
}

/** A POSE field: bytes holding one pose coded against the zero pose. */
function writePoseField(w: Writer, carrier: { transform: Transform }): void {
  const inner = new Writer();
  writePose(inner, poseOf(carrier), null);
  w.bytes(inner.finish());
}

function readPoseField(r: Reader): QPose {
  const inner = new Reader(r.bytes());
  const pose = readPose(inner, 0, () => null);
  inner.end("pose");
  return pose;
}

function writeEnum<T extends string>(w: Writer, names: readonly T[], value: T, what: string): void {
  const number = names.indexOf(value);
  if (number < 0) throw new RangeError(`not a ${what}: ${JSON.stringify(value)}`);
  w.varint(number);
}

function readEnum<T extends string>(r: Reader, names: readonly T[], what: string): T {
  const number = r.u32();
  const name = names[number];
  if (name === undefined) throw new DecodeError(`unknown ${what} number ${number}`);
  return name;
}

function writeObject(w: Writer, o: WireObject): void {
  w.uuid(o.id);
  w.varint(o.index);
  w.string(o.model);
  writeTransform(w, o.transform);
  w.string(propsText(o.props));
  w.uuid(o.owner);
  w.varint(o.version);
}

function readObject(r: Reader): WireObject {
  return {
    id: r.uuid(),
    index: r.u32(),
    model: r.string(),
    transform: readTransform(r),
    props: parseProps(r.string()),
    owner: r.uuid(),
    version: r.u64(),
  };
}

function writeUser(w: Writer, u: WireUser): void {
  w.uuid(u.user);
  w.varint(u.index);
  w.string(u.name);
  writePoseField(w, u);
}

function readUser(r: Reader): WireUser {
  const user = r.uuid();
  const index = r.u32();
  const name = r.string();
  const pose = readPoseField(r);
  const wire = { user, index, name, transform: transformOf(pose) };
  keepPose(wire, pose);
  return wire;
}

function writeChat(w: Writer, c: WireChat): void {
  w.uuid(c.id);
  w.uuid(c.from);
  w.string(c.name);
  w.string(c.text);
  w.string(c.at);
}

function readChat(r: Reader): WireChat {
  return { id: r.uuid(), from: r.uuid(), name: r.string(), text: r.string(), at: r.string() };
}

function writeShare(w: Writer, s: WireShare): void {
  w.uuid(s.user);
  w.string(s.name);
  writeEnum(w, SHARE_KINDS, s.kind, "share kind");
}

function readShare(r: Reader): WireShare {
  return { user: r.uuid(), name: r.string(), kind: readEnum(r, SHARE_KINDS, "share kind") };
}

const optRef = (w: Writer, ref: number | null | undefined) => w.option(ref, (v) => w.varint(v));
const optString = (w: Writer, text: string | null | undefined) => w.option(text, (v) => w.string(v));

// --- client messages ----------------------------------------------------------------

/** A client message in postcard. Throws RangeError for a message that cannot be said. */
export function encodeClientPostcard(msg: ClientMsg): Uint8Array {
  const w = new Writer();
  writeEnum(w, CLIENT_TYPES, msg.type, "client message type");
  switch (msg.type) {
    case "hello":
      w.varint(msg.protocol);
      w.string(msg.name);
      optString(w, msg.token);
      optString(w, msg.visitor);
      optString(w, msg.secret);
      w.seq(msg.versions ?? [], (v) => w.varint(v));
      w.option(msg.codec, (c) => writeEnum(w, CODECS, c, "codec"));
      optString(w, msg.resume);
      break;
    case "join":
      w.string(msg.space);
      optRef(w, msg.ref);
      break;
    case "spawn":
      w.varint(msg.ref);
      w.string(msg.model);
      writeTransform(w, msg.transform);
      w.string(propsText(msg.props ?? {}));
      break;
    case "move":
      w.uuid(msg.id);
      writeTransform(w, msg.transform);
      optRef(w, msg.ref);
      break;
    case "set_props":
      w.uuid(msg.id);
      w.string(propsText(msg.props));
      optRef(w, msg.ref);
      break;
    case "despawn":
      w.uuid(msg.id);
      optRef(w, msg.ref);
      break;
    case "pose":
      writeTransform(w, msg.transform);
      break;
    case "chat":
      w.string(msg.text);
      optRef(w, msg.ref);
      break;
    case "ping":
      w.f64(msg.t);
      break;
    case "screen_share_start":
      writeEnum(w, SHARE_KINDS, msg.kind ?? "screen", "share kind");
      optRef(w, msg.ref);
      break;
    case "signal":
      w.uuid(msg.to);
      w.string(msg.data);
      optRef(w, msg.ref);
      break;
    case "leave":
    case "screen_share_stop":
      break;
  }
  return w.finish();
}

/** A client message from postcard (what a server reads). */
export function decodeClientPostcard(frame: Uint8Array): ClientMsg {
  const r = new Reader(frame);
  const type = readEnum(r, CLIENT_TYPES, "client message type");
  const ref = () => r.option(() => r.u32());
  const text = () => r.option(() => r.string());
  let msg: ClientMsg;
  switch (type) {
    case "hello":
      msg = {
        type,
        protocol: r.u32(),
        name: r.string(),
        token: text(),
        visitor: text(),
        secret: text(),
        versions: r.seq(() => r.u32()),
        codec: r.option(() => readEnum(r, CODECS, "codec")),
        resume: text(),
      };
      break;
    case "join":
      msg = { type, space: r.string(), ref: ref() };
      break;
    case "spawn":
      msg = { type, ref: r.u32(), model: r.string(), transform: readTransform(r), props: parseProps(r.string()) };
      break;
    case "move":
      msg = { type, id: r.uuid(), transform: readTransform(r), ref: ref() };
      break;
    case "set_props":
      msg = { type, id: r.uuid(), props: parseProps(r.string()), ref: ref() };
      break;
    case "despawn":
      msg = { type, id: r.uuid(), ref: ref() };
      break;
    case "pose":
      msg = { type, transform: readTransform(r) };
      break;
    case "chat":
      msg = { type, text: r.string(), ref: ref() };
      break;
    case "ping":
      msg = { type, t: r.f64() };
      break;
    case "screen_share_start":
      msg = { type, kind: readEnum(r, SHARE_KINDS, "share kind"), ref: ref() };
      break;
    case "signal":
      msg = { type, to: r.uuid(), data: r.string(), ref: ref() };
      break;
    case "leave":
    case "screen_share_stop":
      msg = { type };
      break;
  }
  r.end("message");
  return msg;
}

// --- server messages ----------------------------------------------------------------

/**
 * A server message in postcard. `baseOf` gives, per person index, the pose the
 * recipient already has, to code a delta's avatars against (as the server does in a
 * space without a view radius); without it everything is coded against the zero pose.
 */
export function encodeServerPostcard(msg: ServerMsg, baseOf: (index: number) => QPose | null = () => null): Uint8Array {
  const w = new Writer();
  writeEnum(w, SERVER_TYPES, msg.type, "server message type");
  const list = (code: (inner: Writer) => void) => {
    const inner = new Writer();
    code(inner);
    w.bytes(inner.finish());
  };
  switch (msg.type) {
    case "welcome":
      w.uuid(msg.session);
      w.uuid(msg.user);
      w.varint(msg.protocol);
      writeEnum(w, CODECS, msg.codec, "codec");
      w.varint(msg.tick_rate);
      w.string(msg.name);
      w.bool(msg.registered);
      w.string(msg.token);
      optString(w, msg.guest_secret);
      optString(w, msg.resume);
      w.varint(msg.resume_grace_secs);
      w.bool(msg.resumed);
      break;
    case "joined":
      w.uuid(msg.space);
      w.string(msg.name);
      w.varint(msg.tick);
      w.seq(msg.objects, (o) => writeObject(w, o));
      w.seq(msg.users, (u) => writeUser(w, u));
      w.seq(msg.chat, (c) => writeChat(w, c));
      w.seq(msg.shares, (s) => writeShare(w, s));
      break;
    case "left":
      w.uuid(msg.space);
      break;
    case "spawned":
      w.varint(msg.ref);
      w.uuid(msg.id);
      break;
    case "chat":
      writeChat(w, msg);
      break;
    case "pong":
      w.f64(msg.t);
      w.varint(msg.tick);
      break;
    case "delta":
      w.varint(msg.tick);
      w.seq(msg.objects, (o) => writeObject(w, o));
      w.seq(msg.removed, (id) => w.uuid(id));
      list((inner) => writeAvatarList(inner, msg.avatars, baseOf));
      w.seq(msg.joined, (u) => writeUser(w, u));
      w.seq(msg.left, (id) => w.uuid(id));
      w.seq(msg.appeared, (u) => writeUser(w, u));
      w.seq(msg.vanished, (id) => w.uuid(id));
      w.seq(msg.hidden, (id) => w.uuid(id));
      break;
    case "error":
      writeEnum(w, ERROR_CODES, msg.code, "error code");
      w.string(msg.message);
      optRef(w, msg.ref);
      break;
    case "screen_share":
      writeShare(w, msg.share);
      w.bool(msg.active);
      break;
    case "signal":
      w.uuid(msg.from);
      w.string(msg.data);
      break;
    case "motion":
      w.varint(msg.tick);
      list((inner) => writeAvatarList(inner, msg.avatars, () => null));
      list((inner) => writeObjectList(inner, msg.objects));
      break;
    case "moved":
      w.string(msg.space);
      w.string(msg.node);
      w.string(msg.http_url);
      w.u16(msg.quic_port);
      w.u16(msg.webtransport_port);
      w.string(msg.cert_sha256);
      break;
    case "queued":
      w.string(msg.space);
      w.varint(msg.position);
      break;
  }
  return w.finish();
}

/**
 * A server message from postcard, with its motion lists still coded: they can only be
 * read against what the client knows of the space (`IndexTable.absorb`).
 */
export function readServerPostcard(frame: Uint8Array): { msg: ServerMsg; coded: CodedLists | null } {
  const r = new Reader(frame);
  const type = readEnum(r, SERVER_TYPES, "server message type");
  let msg: ServerMsg;
  let coded: CodedLists | null = null;
  switch (type) {
    case "welcome":
      msg = {
        type,
        session: r.uuid(),
        user: r.uuid(),
        protocol: r.u32(),
        codec: readEnum(r, CODECS, "codec"),
        tick_rate: r.u32(),
        name: r.string(),
        registered: r.bool(),
        token: r.string(),
        guest_secret: r.option(() => r.string()),
        resume: r.option(() => r.string()),
        resume_grace_secs: r.u32(),
        resumed: r.bool(),
      };
      break;
    case "joined":
      msg = {
        type,
        space: r.uuid(),
        name: r.string(),
        tick: r.u64(),
        objects: r.seq(() => readObject(r)),
        users: r.seq(() => readUser(r)),
        chat: r.seq(() => readChat(r)),
        shares: r.seq(() => readShare(r)),
      };
      break;
    case "left":
      msg = { type, space: r.uuid() };
      break;
    case "spawned":
      msg = { type, ref: r.u32(), id: r.uuid() };
      break;
    case "chat":
      msg = { type, ...readChat(r) };
      break;
    case "pong":
      msg = { type, t: r.f64(), tick: r.u64() };
      break;
    case "delta": {
      const tick = r.u64();
      const objects = r.seq(() => readObject(r));
      const removed = r.seq(() => r.uuid());
      coded = { avatars: r.bytes() };
      msg = {
        type,
        tick,
        objects,
        removed,
        avatars: [],
        joined: r.seq(() => readUser(r)),
        left: r.seq(() => r.uuid()),
        appeared: r.seq(() => readUser(r)),
        vanished: r.seq(() => r.uuid()),
        hidden: r.seq(() => r.uuid()),
      };
      break;
    }
    case "error":
      msg = { type, code: readEnum(r, ERROR_CODES, "error code"), message: r.string(), ref: r.option(() => r.u32()) };
      break;
    case "screen_share":
      msg = { type, share: readShare(r), active: r.bool() };
      break;
    case "signal":
      msg = { type, from: r.uuid(), data: r.string() };
      break;
    case "motion":
      msg = { type, tick: r.u64(), avatars: [], objects: [] };
      coded = { avatars: r.bytes(), objects: r.bytes() };
      break;
    case "moved":
      msg = {
        type,
        space: r.string(),
        node: r.string(),
        http_url: r.string(),
        quic_port: r.u16(),
        webtransport_port: r.u16(),
        cert_sha256: r.string(),
      };
      break;
    case "queued":
      msg = { type, space: r.string(), position: r.u32() };
      break;
  }
  r.end("message");
  return { msg, coded };
}

// --- either codec -------------------------------------------------------------------

/** A client message as one frame's payload: a string for JSON, bytes for postcard. */
export function encodeClient(msg: ClientMsg, codec: Codec): Uint8Array | string {
  return codec === "json" ? encodeClientJson(msg) : encodeClientPostcard(msg);
}

/**
 * Decodes one frame from the server and brings `table` (what the client knows of its
 * space) up to date, resolving compact motion against it. Returns null for a motion
 * older than one already applied (a late datagram), which is to be dropped. Throws a
 * DecodeError for a frame that is not a valid message in `codec`.
 */
export function decodeServer(frame: Uint8Array | string, codec: Codec, table: IndexTable): ServerMsg | null {
  let msg: ServerMsg;
  let coded: CodedLists | null = null;
  if (codec === "json") {
    msg = decodeServerJson(typeof frame === "string" ? frame : utf8Text(frame));
  } else {
    if (typeof frame === "string") throw new DecodeError("a text frame on a postcard connection");
    ({ msg, coded } = readServerPostcard(frame));
  }
  return table.absorb(msg, coded) ? msg : null;
}

/** A server message as one frame's payload (for tests and mock servers). */
export function encodeServer(msg: ServerMsg, codec: Codec, baseOf?: (index: number) => QPose | null): Uint8Array | string {
  return codec === "json" ? encodeServerJson(msg) : encodeServerPostcard(msg, baseOf);
}

/** A client message from one frame (for tests and mock servers). */
export function decodeClient(frame: Uint8Array | string, codec: Codec): ClientMsg {
  if (codec === "json") return decodeClientJson(typeof frame === "string" ? frame : utf8Text(frame));
  if (typeof frame === "string") throw new DecodeError("a text frame on a postcard connection");
  return decodeClientPostcard(frame);
}

function utf8Text(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new DecodeError("a JSON frame that is not UTF-8");
  }
}
