// Protocol version 1, frozen (docs/protocol.md, "Versions"), in both codecs. The client
// speaks version 2; this is here for tools that must read or write version-1 frames, and
// it goes when the server stops speaking version 1. Version 1 has no compact motion, so
// every message is plain fields, described once below as a schema that drives postcard
// and JSON alike.

import { DecodeError, Reader, Writer, isUuid, uuidBytes, uuidText } from "./postcard.js";
import { parseProps, propsText, shortestF32 } from "./json.js";
import { ERROR_CODES, SHARE_KINDS, type Codec, type Transform } from "./types.js";

type Schema =
  | "u32"
  | "u64"
  | "f64"
  | "bool"
  | "string"
  | "uuid"
  | "props"
  | "transform"
  | { opt: Schema }
  | { list: Schema }
  | { oneOf: readonly string[] }
  | { fields: Field[] }
  | { or: Schema; absent: unknown };
type Field = [name: string, schema: Schema];

/** A version-1 message: `type` and its fields, as in the JSON form. */
export type V1Msg = { type: string; [field: string]: unknown };

const opt = (schema: Schema): Schema => ({ opt: schema });
const list = (schema: Schema): Schema => ({ list: schema });
const fields = (...f: Field[]): Schema => ({ fields: f });
const shareKind: Schema = { oneOf: SHARE_KINDS };

const object = fields(["id", "uuid"], ["model", "string"], ["transform", "transform"], ["props", "props"], ["owner", "uuid"], ["version", "u64"]);
const user = fields(["user", "uuid"], ["name", "string"], ["transform", "transform"]);
const chat: Field[] = [["from", "uuid"], ["name", "string"], ["text", "string"], ["at", "string"]];
const share = fields(["user", "uuid"], ["name", "string"], ["kind", shareKind]);
const avatar = fields(["user", "uuid"], ["transform", "transform"]);

/** Client messages by variant number: name, then fields in order. */
const CLIENT: Array<[string, Field[]]> = [
  ["hello", [["protocol", "u32"], ["name", "string"], ["token", opt("string")], ["visitor", opt("string")], ["secret", opt("string")]]],
  ["join", [["space", "string"]]],
  ["leave", []],
  ["spawn", [["ref", "u32"], ["model", "string"], ["transform", "transform"], ["props", { or: "props", absent: {} }]]],
  ["move", [["id", "uuid"], ["transform", "transform"]]],
  ["set_props", [["id", "uuid"], ["props", "props"]]],
  ["despawn", [["id", "uuid"]]],
  ["pose", [["transform", "transform"]]],
  ["chat", [["text", "string"]]],
  ["ping", [["t", "f64"]]],
  ["screen_share_start", [["kind", { or: shareKind, absent: "screen" }]]],
  ["screen_share_stop", []],
  ["signal", [["to", "uuid"], ["data", "string"]]],
];

/** Server messages by variant number. */
const SERVER: Array<[string, Field[]]> = [
  ["welcome", [["session", "uuid"], ["user", "uuid"], ["protocol", "u32"], ["tick_rate", "u32"], ["name", "string"], ["registered", "bool"], ["token", "string"], ["guest_secret", opt("string")]]],
  ["joined", [["space", "uuid"], ["name", "string"], ["tick", "u64"], ["objects", list(object)], ["users", list(user)], ["chat", list(fields(...chat))], ["shares", list(share)]]],
  ["left", [["space", "uuid"]]],
  ["spawned", [["ref", "u32"], ["id", "uuid"]]],
  ["chat", chat],
  ["pong", [["t", "f64"], ["tick", "u64"]]],
  ["delta", [["tick", "u64"], ["objects", list(object)], ["removed", list("uuid")], ["avatars", list(avatar)], ["joined", list(user)], ["left", list("uuid")], ["appeared", list(user)], ["vanished", list("uuid")], ["hidden", list("uuid")]]],
  ["error", [["code", { oneOf: ERROR_CODES }], ["message", "string"]]],
  ["screen_share", [["share", share], ["active", "bool"]]],
  ["signal", [["from", "uuid"], ["data", "string"]]],
  ["motion", [["tick", "u64"], ["avatars", list(avatar)], ["objects", list(fields(["id", "uuid"], ["transform", "transform"], ["version", "u64"]))]]],
];

function write(w: Writer, schema: Schema, value: unknown): void {
  if (typeof schema === "string") {
    switch (schema) {
      case "u32":
      case "u64":
        return w.varint(value as number);
      case "f64":
        return w.f64(value as number);
      case "bool":
        return w.bool(value as boolean);
      case "string":
        return w.string(value as string);
      case "uuid":
        return w.uuid(value as string);
      case "props":
        return w.string(propsText(value as never));
      case "transform": {
        const t = value as Transform;
        return [...t.pos, ...t.rot, ...t.scale].forEach((v) => w.f32(v));
      }
    }
  }
  if ("opt" in schema) return w.option(value, (v) => write(w, schema.opt, v));
  if ("list" in schema) return w.seq(value as unknown[], (v) => write(w, schema.list, v));
  if ("oneOf" in schema) {
    const number = schema.oneOf.indexOf(value as string);
    if (number < 0) throw new RangeError(`not one of ${schema.oneOf.join(", ")}: ${JSON.stringify(value)}`);
    return w.varint(number);
  }
  if ("or" in schema) return write(w, schema.or, value ?? schema.absent);
  const record = value as Record<string, unknown>;
  for (const [name, field] of schema.fields) write(w, field, record[name]);
}

function read(r: Reader, schema: Schema): unknown {
  if (typeof schema === "string") {
    switch (schema) {
      case "u32":
        return r.u32();
      case "u64":
        return r.u64();
      case "f64":
        return r.f64();
      case "bool":
        return r.bool();
      case "string":
        return r.string();
      case "uuid":
        return r.uuid();
      case "props":
        return parseProps(r.string());
      case "transform":
        return { pos: [r.f32(), r.f32(), r.f32()], rot: [r.f32(), r.f32(), r.f32(), r.f32()], scale: [r.f32(), r.f32(), r.f32()] };
    }
  }
  if ("opt" in schema) return r.option(() => read(r, schema.opt));
  if ("list" in schema) return r.seq(() => read(r, schema.list));
  if ("oneOf" in schema) {
    const name = schema.oneOf[r.u32()];
    if (name === undefined) throw new DecodeError(`unknown enum number, expected one of ${schema.oneOf.join(", ")}`);
    return name;
  }
  if ("or" in schema) return read(r, schema.or);
  const record: Record<string, unknown> = {};
  for (const [name, field] of schema.fields) record[name] = read(r, field);
  return record;
}

/** Checks and normalises a JSON value against `schema` (f32 rounded, UUIDs lowercase). */
function fromJson(schema: Schema, value: unknown, where: string): unknown {
  const fail = (expected: string): never => {
    throw new DecodeError(`${where}: expected ${expected}`);
  };
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (typeof schema === "string") {
    switch (schema) {
      case "u32":
      case "u64": {
        const max = schema === "u32" ? 0xffffffff : Number.MAX_SAFE_INTEGER;
        return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= max ? value : fail(`an integer 0–${max}`);
      }
      case "f64":
        return typeof value === "number" ? value : fail("a number");
      case "bool":
        return typeof value === "boolean" ? value : fail("true or false");
      case "string":
        return typeof value === "string" ? value : fail("a string");
      case "uuid":
        return isUuid(value) ? uuidText(uuidBytes(value)) : fail("a UUID");
      case "props":
        return isRecord(value) ? value : fail("a JSON object");
      case "transform": {
        if (!isRecord(value)) return fail("a transform");
        const floats = (key: string, n: number) => {
          const v = value[key];
          return Array.isArray(v) && v.length === n && v.every((x) => typeof x === "number") ? v.map((x: number) => Math.fround(x)) : fail(`${n} numbers in ${key}`);
        };
        return { pos: floats("pos", 3), rot: floats("rot", 4), scale: floats("scale", 3) };
      }
    }
  }
  if ("opt" in schema) return value === undefined || value === null ? null : fromJson(schema.opt, value, where);
  if ("or" in schema) return value === undefined || value === null ? schema.absent : fromJson(schema.or, value, where);
  if ("list" in schema) return Array.isArray(value) ? value.map((v, i) => fromJson(schema.list, v, `${where}[${i}]`)) : fail("a list");
  if ("oneOf" in schema) return schema.oneOf.includes(value as string) ? value : fail(`one of ${schema.oneOf.join(", ")}`);
  if (!isRecord(value)) return fail("an object");
  const record: Record<string, unknown> = {};
  for (const [name, field] of schema.fields) record[name] = fromJson(field, value[name], `${where}.${name}`);
  return record;
}

/** Writes f32 fields as their shortest decimals, as the JSON codec does. */
function toJson(schema: Schema, value: unknown): unknown {
  if (schema === "transform") {
    const t = value as Transform;
    return { pos: t.pos.map(shortestF32), rot: t.rot.map(shortestF32), scale: t.scale.map(shortestF32) };
  }
  if (typeof schema === "string" || "oneOf" in schema) return value;
  if ("opt" in schema) return value === undefined || value === null ? null : toJson(schema.opt, value);
  if ("or" in schema) return toJson(schema.or, value ?? schema.absent);
  if ("list" in schema) return (value as unknown[]).map((v) => toJson(schema.list, v));
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, field] of schema.fields) out[name] = toJson(field, record[name]);
  return out;
}

function encode(table: Array<[string, Field[]]>, msg: V1Msg, codec: Codec): Uint8Array | string {
  const variant = table.findIndex(([name]) => name === msg.type);
  if (variant < 0) throw new RangeError(`no version-1 message ${JSON.stringify(msg.type)}`);
  const schema = fields(...table[variant]![1]);
  if (codec === "json") return JSON.stringify({ type: msg.type, ...(toJson(schema, msg) as object) });
  const w = new Writer();
  w.varint(variant);
  write(w, schema, msg);
  return w.finish();
}

function decode(table: Array<[string, Field[]]>, frame: Uint8Array | string, codec: Codec): V1Msg {
  if (codec === "json") {
    let value: unknown;
    try {
      value = JSON.parse(typeof frame === "string" ? frame : new TextDecoder("utf-8", { fatal: true }).decode(frame));
    } catch {
      throw new DecodeError("a frame that is not JSON");
    }
    const type = (value as { type?: unknown } | null)?.type;
    const entry = table.find(([name]) => name === type);
    if (!entry) throw new DecodeError(`unknown version-1 message type ${JSON.stringify(type)}`);
    return { type: entry[0], ...(fromJson(fields(...entry[1]), value, entry[0]) as object) };
  }
  if (typeof frame === "string") throw new DecodeError("a text frame on a postcard connection");
  const r = new Reader(frame);
  const variant = r.u32();
  const entry = table[variant];
  if (!entry) throw new DecodeError(`unknown version-1 message number ${variant}`);
  const msg = { type: entry[0], ...(read(r, fields(...entry[1])) as object) };
  r.end("message");
  return msg;
}

/** A version-1 client message in `codec`. */
export const encodeClientV1 = (msg: V1Msg, codec: Codec) => encode(CLIENT, msg, codec);
/** A version-1 client message from a frame. */
export const decodeClientV1 = (frame: Uint8Array | string, codec: Codec) => decode(CLIENT, frame, codec);
/** A version-1 server message in `codec`. */
export const encodeServerV1 = (msg: V1Msg, codec: Codec) => encode(SERVER, msg, codec);
/** A version-1 server message from a frame. */
export const decodeServerV1 = (frame: Uint8Array | string, codec: Codec) => decode(SERVER, frame, codec);
