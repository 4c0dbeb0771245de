// Protocol version 2 in JSON (docs/protocol.md, "JSON"): `{"type": ..., ...fields}` text
// frames. Decoding checks every field of what arrives (a server, or anyone pretending to
// be one, may send anything) and fills absent optional fields with null, so a decoded
// message has the same shape whichever codec it came in. f32 fields are rounded to f32 on
// the way in and written as the shortest decimal that gives the same f32 on the way out.

import { DecodeError, isUuid, uuidBytes, uuidText } from "./postcard.js";
import { keepPose, poseOf, quantize, transformOf } from "./motion.js";
import {
  CLIENT_TYPES,
  CODECS,
  ERROR_CODES,
  SERVER_TYPES,
  SHARE_KINDS,
  type AvatarMove,
  type ClientMsg,
  type JsonValue,
  type ObjectMove,
  type Props,
  type ServerMsg,
  type Transform,
  type WireChat,
  type WireObject,
  type WireShare,
  type WireUser,
} from "./types.js";

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// --- props --------------------------------------------------------------------------

/**
 * The JSON text of props as postcard carries them, keys sorted: the server keeps props
 * in that form, so the same props always make the same bytes.
 */
export function propsText(props: Props): string {
  if (!isObject(props)) throw new RangeError("props must be a JSON object");
  return JSON.stringify(sortKeys(props));
}

function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  const sorted: Record<string, JsonValue> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key] as JsonValue);
  return sorted;
}

/** Props from their JSON text; anything but a JSON object is refused. */
export function parseProps(text: string): Props {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DecodeError("props are not valid JSON");
  }
  if (!isObject(value)) throw new DecodeError("props must be a JSON object");
  return value as Props;
}

// --- reading fields -----------------------------------------------------------------

/** Typed access to the fields of one JSON object, naming the field in every error. */
class FieldReader {
  constructor(
    private readonly fields: Fields,
    private readonly where: string,
  ) {}

  private fail(key: string, expected: string): never {
    throw new DecodeError(`${this.where}.${key}: expected ${expected}`);
  }

  has(key: string): boolean {
    return this.fields[key] !== undefined && this.fields[key] !== null;
  }

  string(key: string): string {
    const v = this.fields[key];
    return typeof v === "string" ? v : this.fail(key, "a string");
  }

  optString(key: string): string | null {
    return this.has(key) ? this.string(key) : null;
  }

  bool(key: string): boolean {
    const v = this.fields[key];
    return typeof v === "boolean" ? v : this.fail(key, "true or false");
  }

  integer(key: string, max: number): number {
    const v = this.fields[key];
    return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max ? (v as number) : this.fail(key, `an integer 0–${max}`);
  }

  u16(key: string): number {
    return this.integer(key, 0xffff);
  }

  u32(key: string): number {
    return this.integer(key, 0xffffffff);
  }

  optU32(key: string): number | null {
    return this.has(key) ? this.u32(key) : null;
  }

  u64(key: string): number {
    return this.integer(key, Number.MAX_SAFE_INTEGER);
  }

  f64(key: string): number {
    const v = this.fields[key];
    return typeof v === "number" ? v : this.fail(key, "a number");
  }

  uuid(key: string): string {
    const v = this.fields[key];
    return isUuid(v) ? uuidText(uuidBytes(v)) : this.fail(key, "a UUID");
  }

  oneOf<T extends string>(key: string, names: readonly T[]): T {
    const v = this.fields[key];
    return names.includes(v as T) ? (v as T) : this.fail(key, `one of ${names.join(", ")}`);
  }

  props(key: string): Props {
    const v = this.fields[key];
    return isObject(v) ? (v as Props) : this.fail(key, "a JSON object");
  }

  object<T>(key: string, read: (fields: FieldReader) => T): T {
    const v = this.fields[key];
    return isObject(v) ? read(new FieldReader(v, `${this.where}.${key}`)) : this.fail(key, "an object");
  }

  list<T>(key: string, read: (item: unknown, where: string) => T): T[] {
    const v = this.fields[key];
    if (!Array.isArray(v)) return this.fail(key, "a list");
    return v.map((item, i) => read(item, `${this.where}.${key}[${i}]`));
  }

  objects<T>(key: string, read: (fields: FieldReader) => T): T[] {
    return this.list(key, (item, where) => {
      if (!isObject(item)) throw new DecodeError(`${where}: expected an object`);
      return read(new FieldReader(item, where));
    });
  }

  uuids(key: string): string[] {
    return this.list(key, (item, where) => {
      if (!isUuid(item)) throw new DecodeError(`${where}: expected a UUID`);
      return uuidText(uuidBytes(item));
    });
  }

  floats(key: string, count: number): number[] {
    const v = this.fields[key];
    if (!Array.isArray(v) || v.length !== count || !v.every((n) => typeof n === "number")) {
      return this.fail(key, `${count} numbers`);
    }
    return v.map((n: number) => Math.fround(n));
  }

  transform(key: string): Transform {
    return this.object(key, (t) => ({
      pos: t.floats("pos", 3) as Transform["pos"],
      rot: t.floats("rot", 4) as Transform["rot"],
      scale: t.floats("scale", 3) as Transform["scale"],
    }));
  }

  /** A POSE: a transform as quantised for travel, standing for its travelling pose. */
  pose<T extends { transform: Transform }>(key: string, rest: Omit<T, "transform">): T {
    const pose = quantize(this.transform(key));
    const carrier = { ...rest, transform: transformOf(pose) } as T;
    keepPose(carrier, pose);
    return carrier;
  }
}

function fieldsOf(text: string, direction: string): FieldReader {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DecodeError(`a ${direction} frame that is not JSON`);
  }
  if (!isObject(value) || typeof value.type !== "string") {
    throw new DecodeError('a JSON frame must be an object with a string "type" field');
  }
  return new FieldReader(value, value.type);
}

const readObject = (o: FieldReader): WireObject => ({
  id: o.uuid("id"),
  index: o.u32("index"),
  model: o.string("model"),
  transform: o.transform("transform"),
  props: o.props("props"),
  owner: o.uuid("owner"),
  version: o.u64("version"),
});

const readUser = (u: FieldReader): WireUser =>
  u.pose<WireUser>("transform", { user: u.uuid("user"), index: u.u32("index"), name: u.string("name") });

const readChat = (c: FieldReader): WireChat => ({
  id: c.uuid("id"),
  from: c.uuid("from"),
  name: c.string("name"),
  text: c.string("text"),
  at: c.string("at"),
});

const readShare = (s: FieldReader): WireShare => ({ user: s.uuid("user"), name: s.string("name"), kind: s.oneOf("kind", SHARE_KINDS) });

const readAvatar = (a: FieldReader): AvatarMove => a.pose<AvatarMove>("transform", { index: a.u32("index"), user: a.uuid("user") });

const readObjectMove = (o: FieldReader): ObjectMove =>
  o.pose<ObjectMove>("transform", { index: o.u32("index"), id: o.uuid("id"), version: o.u64("version") });

// --- decoding -----------------------------------------------------------------------

/** A server message from JSON text. */
export function decodeServerJson(text: string): ServerMsg {
  const f = fieldsOf(text, "server");
  const type = f.oneOf("type", SERVER_TYPES);
  switch (type) {
    case "welcome":
      return {
        type,
        session: f.uuid("session"),
        user: f.uuid("user"),
        protocol: f.u32("protocol"),
        codec: f.oneOf("codec", CODECS),
        tick_rate: f.u32("tick_rate"),
        name: f.string("name"),
        registered: f.bool("registered"),
        token: f.string("token"),
        guest_secret: f.optString("guest_secret"),
        resume: f.optString("resume"),
        resume_grace_secs: f.has("resume_grace_secs") ? f.u32("resume_grace_secs") : 0,
        resumed: f.has("resumed") ? f.bool("resumed") : false,
      };
    case "joined":
      return {
        type,
        space: f.uuid("space"),
        name: f.string("name"),
        tick: f.u64("tick"),
        objects: f.objects("objects", readObject),
        users: f.objects("users", readUser),
        chat: f.objects("chat", readChat),
        shares: f.objects("shares", readShare),
      };
    case "left":
      return { type, space: f.uuid("space") };
    case "spawned":
      return { type, ref: f.u32("ref"), id: f.uuid("id") };
    case "chat":
      return { type, ...readChat(f) };
    case "pong":
      return { type, t: f.f64("t"), tick: f.u64("tick") };
    case "delta":
      return {
        type,
        tick: f.u64("tick"),
        objects: f.objects("objects", readObject),
        removed: f.uuids("removed"),
        avatars: f.objects("avatars", readAvatar),
        joined: f.objects("joined", readUser),
        left: f.uuids("left"),
        appeared: f.objects("appeared", readUser),
        vanished: f.uuids("vanished"),
        hidden: f.uuids("hidden"),
      };
    case "error":
      return { type, code: f.oneOf("code", ERROR_CODES), message: f.string("message"), ref: f.optU32("ref") };
    case "screen_share":
      return { type, share: f.object("share", readShare), active: f.bool("active") };
    case "signal":
      return { type, from: f.uuid("from"), data: f.string("data") };
    case "motion":
      return { type, tick: f.u64("tick"), avatars: f.objects("avatars", readAvatar), objects: f.objects("objects", readObjectMove) };
    case "moved":
      return {
        type,
        space: f.string("space"),
        node: f.string("node"),
        http_url: f.string("http_url"),
        quic_port: f.u16("quic_port"),
        webtransport_port: f.u16("webtransport_port"),
        cert_sha256: f.string("cert_sha256"),
      };
    case "queued":
      return { type, space: f.string("space"), position: f.u32("position") };
  }
}

/** A client message from JSON text (what a server reads), with the protocol's defaults. */
export function decodeClientJson(text: string): ClientMsg {
  const f = fieldsOf(text, "client");
  const type = f.oneOf("type", CLIENT_TYPES);
  switch (type) {
    case "hello":
      return {
        type,
        protocol: f.u32("protocol"),
        name: f.string("name"),
        token: f.optString("token"),
        visitor: f.optString("visitor"),
        secret: f.optString("secret"),
        versions: f.has("versions") ? f.list("versions", (v, where) => {
          if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff) throw new DecodeError(`${where}: expected a u32`);
          return v as number;
        }) : [],
        codec: f.has("codec") ? f.oneOf("codec", CODECS) : null,
        resume: f.optString("resume"),
      };
    case "join":
      return { type, space: f.string("space"), ref: f.optU32("ref") };
    case "spawn":
      return { type, ref: f.u32("ref"), model: f.string("model"), transform: f.transform("transform"), props: f.has("props") ? f.props("props") : {} };
    case "move":
      return { type, id: f.uuid("id"), transform: f.transform("transform"), ref: f.optU32("ref") };
    case "set_props":
      return { type, id: f.uuid("id"), props: f.props("props"), ref: f.optU32("ref") };
    case "despawn":
      return { type, id: f.uuid("id"), ref: f.optU32("ref") };
    case "pose":
      return { type, transform: f.transform("transform") };
    case "chat":
      return { type, text: f.string("text"), ref: f.optU32("ref") };
    case "ping":
      return { type, t: f.f64("t") };
    case "screen_share_start":
      return { type, kind: f.has("kind") ? f.oneOf("kind", SHARE_KINDS) : "screen", ref: f.optU32("ref") };
    case "signal":
      return { type, to: f.uuid("to"), data: f.string("data"), ref: f.optU32("ref") };
    case "leave":
    case "screen_share_stop":
      return { type };
  }
}

// --- encoding -----------------------------------------------------------------------

/** The shortest decimal that reads back as the same f32 (what the server parses it into). */
export function shortestF32(value: number): number {
  const single = Math.fround(value);
  if (!Number.isFinite(single)) return single;
  for (let digits = 1; digits < 10; digits++) {
    const short = Number(single.toPrecision(digits));
    if (Math.fround(short) === single) return short;
  }
  return single;
}

function transformJson(t: Transform): Transform {
  return {
    pos: t.pos.map(shortestF32) as Transform["pos"],
    rot: t.rot.map(shortestF32) as Transform["rot"],
    scale: t.scale.map(shortestF32) as Transform["scale"],
  };
}

/** A POSE as JSON shows it: the transform its travelling pose stands for. */
const poseJson = (carrier: { transform: Transform }): Transform => transformJson(transformOf(poseOf(carrier)));

const objectJson = (o: WireObject) => ({ ...o, transform: transformJson(o.transform) });
const userJson = (u: WireUser) => ({ user: u.user, index: u.index, name: u.name, transform: poseJson(u) });

/** A client message as JSON text; absent optional fields are written as null. */
export function encodeClientJson(msg: ClientMsg): string {
  switch (msg.type) {
    case "hello":
      return JSON.stringify({
        type: msg.type,
        protocol: msg.protocol,
        name: msg.name,
        token: msg.token ?? null,
        visitor: msg.visitor ?? null,
        secret: msg.secret ?? null,
        versions: msg.versions ?? [],
        codec: msg.codec ?? null,
        resume: msg.resume ?? null,
      });
    case "spawn":
      return JSON.stringify({ type: msg.type, ref: msg.ref, model: msg.model, transform: transformJson(msg.transform), props: msg.props ?? {} });
    case "move":
      return JSON.stringify({ type: msg.type, id: msg.id, transform: transformJson(msg.transform), ref: msg.ref ?? null });
    case "pose":
      return JSON.stringify({ type: msg.type, transform: transformJson(msg.transform) });
    case "screen_share_start":
      return JSON.stringify({ type: msg.type, kind: msg.kind ?? "screen", ref: msg.ref ?? null });
    case "join":
    case "set_props":
    case "despawn":
    case "chat":
    case "signal":
      return JSON.stringify({ ...msg, ref: msg.ref ?? null });
    case "ping":
    case "leave":
    case "screen_share_stop":
      return JSON.stringify(msg);
  }
}

/** A server message as JSON text (for tests and mock servers). */
export function encodeServerJson(msg: ServerMsg): string {
  switch (msg.type) {
    case "joined":
      return JSON.stringify({ ...msg, objects: msg.objects.map(objectJson), users: msg.users.map(userJson) });
    case "delta":
      return JSON.stringify({
        ...msg,
        objects: msg.objects.map(objectJson),
        avatars: msg.avatars.map((a) => ({ index: a.index, user: a.user, transform: poseJson(a) })),
        joined: msg.joined.map(userJson),
        appeared: msg.appeared.map(userJson),
      });
    case "motion":
      return JSON.stringify({
        ...msg,
        avatars: msg.avatars.map((a) => ({ index: a.index, user: a.user, transform: poseJson(a) })),
        objects: msg.objects.map((o) => ({ index: o.index, id: o.id, transform: poseJson(o), version: o.version })),
      });
    default:
      return JSON.stringify(msg);
  }
}

