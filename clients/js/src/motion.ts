// Compact motion (docs/protocol.md, "Compact motion"): poses quantised for travel
// (millimetres, a yaw in 1/65536 turns or a smallest-three quaternion, unit or explicit
// scale), their flags-byte coding against a base pose, and the coded lists of avatar and
// object moves addressed by per-space index.
//
// Every formula follows the Rust reference (net/src/pose.rs) operation by operation, in
// double precision, so that this client codes exactly the bytes the server does.

import { DecodeError, type Reader, type Writer } from "./postcard.js";
import type { AvatarMove, ObjectMove, Transform, Uuid } from "./types.js";

/** A rotation as it travels. */
export type QRot = { kind: "yaw"; yaw: number } | { kind: "packed"; bits: number };

/** A pose as it travels. */
export interface QPose {
  /** Position in whole millimetres (i32). */
  pos: [number, number, number];
  rot: QRot;
  /** `"unit"` for exactly [1,1,1], else the three f32 values. */
  scale: "unit" | [number, number, number];
}

/** Origin, yaw 0, unit scale: what absolute coding is against. */
export const ZERO_POSE: QPose = Object.freeze({
  pos: [0, 0, 0],
  rot: { kind: "yaw", yaw: 0 },
  scale: "unit",
}) as QPose;

const MM_PER_METRE = 1000;
const TAU = 2 * Math.PI;
const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;

const POS_X = 1;
const ROT_SHIFT = 3;
const ROT_YAW = 1;
const ROT_PACKED = 2;
const SCALE_SHIFT = 5;
const SCALE_UNIT = 1;
const SCALE_EXPLICIT = 2;
/**
 * The exact travelling pose behind a decoded user's or move's transform, when it came in
 * binary. Relative coding refers to it, and turning the f32 transform back into
 * millimetres is not exact far from the origin, so the decoder keeps it here.
 */
const travelled = new WeakMap<object, QPose>();

/** Remembers that `carrier.transform` stands for `pose`. */
export function keepPose(carrier: { transform: Transform }, pose: QPose): void {
  travelled.set(carrier, pose);
}

/** The travelling pose of `carrier.transform`: as it came in binary, else quantised now. */
export function poseOf(carrier: { transform: Transform }): QPose {
  return travelled.get(carrier) ?? quantize(carrier.transform);
}

/** Flags bit 7: the base is the recipient's last pose of the index, not the zero pose. */
const RELATIVE = 0x80;

/** Rounds half away from zero, as Rust's `f64::round` (Math.round goes half up). */
function roundHalfAway(value: number): number {
  return value < 0 ? -Math.round(-value) : Math.round(value);
}

/** The travelling form of `t`, exactly as the server quantises it. */
export function quantize(t: Transform): QPose {
  const pos = t.pos.map((v) => {
    const mm = roundHalfAway(Math.fround(v) * MM_PER_METRE);
    return Math.min(I32_MAX, Math.max(I32_MIN, Number.isNaN(mm) ? 0 : mm));
  }) as [number, number, number];
  const scale = t.scale.map(Math.fround) as [number, number, number];
  return {
    pos,
    rot: quantizeRotation(t.rot.map(Math.fround) as [number, number, number, number]),
    scale: scale.every((v) => v === 1) ? "unit" : scale,
  };
}

function quantizeRotation([x, y, z, w]: [number, number, number, number]): QRot {
  const normSq = x * x + y * y + z * z + w * w;
  if (!(Number.isFinite(normSq) && normSq > 0)) return { kind: "yaw", yaw: 0 };
  // |x| and |z| below 1e-6 of the norm: a turn about +Y only.
  if (x * x < 1e-12 * normSq && z * z < 1e-12 * normSq) {
    const turns = (2 * Math.atan2(y, w)) / TAU;
    const steps = roundHalfAway(turns * 65536);
    return { kind: "yaw", yaw: ((steps % 65536) + 65536) % 65536 };
  }
  const norm = Math.sqrt(normSq);
  return { kind: "packed", bits: packSmallestThree([x / norm, y / norm, z / norm, w / norm]) };
}

function packSmallestThree(q: number[]): number {
  // The last of equal largest magnitudes wins, as Rust's `max_by` picks it.
  let largest = 0;
  for (let i = 1; i < 4; i++) if (Math.abs(q[i]!) >= Math.abs(q[largest]!)) largest = i;
  const sign = q[largest]! < 0 ? -1 : 1;
  let bits = largest * 2 ** 30;
  let shift = 20;
  for (let i = 0; i < 4; i++) {
    if (i === largest) continue;
    const unit = Math.min(1, Math.max(0, ((q[i]! * sign) / Math.SQRT1_2 + 1) / 2));
    bits += Math.round(unit * 1023) * 2 ** shift;
    shift -= 10;
  }
  return bits;
}

/** The quaternion a travelling rotation stands for, as f32 values. */
export function rotationOf(rot: QRot): [number, number, number, number] {
  if (rot.kind === "yaw") {
    const half = ((rot.yaw / 65536) * TAU) / 2;
    return [0, Math.fround(Math.sin(half)), 0, Math.fround(Math.cos(half))];
  }
  const largest = rot.bits >>> 30;
  const q = [0, 0, 0, 0];
  let shift = 20;
  let sum = 0;
  for (let i = 0; i < 4; i++) {
    if (i === largest) continue;
    const unit = ((rot.bits >>> shift) & 1023) / 1023;
    q[i] = (unit * 2 - 1) * Math.SQRT1_2;
    sum += q[i]! * q[i]!;
    shift -= 10;
  }
  q[largest] = Math.sqrt(Math.max(0, 1 - sum));
  return q.map(Math.fround) as [number, number, number, number];
}

/** The transform a travelling pose stands for. */
export function transformOf(pose: QPose): Transform {
  return {
    pos: pose.pos.map((mm) => Math.fround(mm / MM_PER_METRE)) as [number, number, number],
    rot: rotationOf(pose.rot),
    scale: pose.scale === "unit" ? [1, 1, 1] : [...pose.scale],
  };
}

function yawOf(pose: QPose): number {
  return pose.rot.kind === "yaw" ? pose.rot.yaw : 0;
}

function sameRotation(a: QRot, b: QRot): boolean {
  return a.kind === "yaw" ? b.kind === "yaw" && a.yaw === b.yaw : b.kind === "packed" && a.bits === b.bits;
}

function sameScale(a: QPose["scale"], b: QPose["scale"]): boolean {
  if (a === "unit" || b === "unit") return a === b;
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
}

/** Appends `pose` coded against `base` (`null`: against the zero pose, bit 7 clear). */
export function writePose(out: Writer, pose: QPose, base: QPose | null): void {
  const from = base ?? ZERO_POSE;
  let flags = base ? RELATIVE : 0;
  // The flags byte comes first but depends on the fields: code them aside.
  const fields: Array<(w: Writer) => void> = [];
  for (let axis = 0; axis < 3; axis++) {
    const diff = pose.pos[axis]! - from.pos[axis]!;
    if (diff !== 0) {
      flags |= POS_X << axis;
      fields.push((w) => w.signed(diff));
    }
  }
  if (!sameRotation(pose.rot, from.rot)) {
    const rot = pose.rot;
    if (rot.kind === "yaw") {
      flags |= ROT_YAW << ROT_SHIFT;
      // A wrapping 16-bit difference, -32768..32767.
      let diff = (rot.yaw - yawOf(from)) & 0xffff;
      if (diff >= 0x8000) diff -= 0x10000;
      fields.push((w) => w.signed(diff));
    } else {
      flags |= ROT_PACKED << ROT_SHIFT;
      fields.push((w) => {
        for (let i = 0; i < 4; i++) w.u8(Math.floor(rot.bits / 2 ** (8 * i)) & 0xff);
      });
    }
  }
  if (!sameScale(pose.scale, from.scale)) {
    const scale = pose.scale;
    if (scale === "unit") {
      flags |= SCALE_UNIT << SCALE_SHIFT;
    } else {
      flags |= SCALE_EXPLICIT << SCALE_SHIFT;
      fields.push((w) => scale.forEach((v) => w.f32(v)));
    }
  }
  out.u8(flags);
  for (const field of fields) field(out);
}

/**
 * Reads one coded pose. `baseOf` gives the recipient's last pose of `index`, asked only
 * when the pose is relative; a relative pose without one is a desynchronisation.
 */
export function readPose(input: Reader, index: number, baseOf: () => QPose | null): QPose {
  const flags = input.u8();
  const rotKind = (flags >> ROT_SHIFT) & 3;
  const scaleKind = (flags >> SCALE_SHIFT) & 3;
  if (rotKind === 3 || scaleKind === 3) {
    throw new DecodeError(`compact motion holds a pose with reserved flags 0x${flags.toString(16)}`);
  }
  let base = ZERO_POSE;
  if (flags & RELATIVE) {
    const known = baseOf();
    if (!known) throw new MotionDesyncError(index);
    base = known;
  }
  const pos: [number, number, number] = [...base.pos];
  for (let axis = 0; axis < 3; axis++) {
    if (flags & (POS_X << axis)) {
      const value = base.pos[axis]! + input.signed();
      if (value < I32_MIN || value > I32_MAX) {
        throw new DecodeError(`compact motion moves index ${index} outside the coordinate range`);
      }
      pos[axis] = value;
    }
  }
  let rot = base.rot;
  if (rotKind === ROT_YAW) {
    const diff = input.signed();
    if (diff < -0x8000 || diff > 0x7fff) throw new DecodeError("a yaw difference overflows 16 bits");
    rot = { kind: "yaw", yaw: (yawOf(base) + diff) & 0xffff };
  } else if (rotKind === ROT_PACKED) {
    const b = input.raw(4);
    rot = { kind: "packed", bits: b[0]! + b[1]! * 2 ** 8 + b[2]! * 2 ** 16 + b[3]! * 2 ** 24 };
  }
  let scale = base.scale;
  if (scaleKind === SCALE_UNIT) scale = "unit";
  else if (scaleKind === SCALE_EXPLICIT) scale = [input.f32(), input.f32(), input.f32()];
  return { pos, rot, scale };
}

/**
 * A relative pose for an index this client has no pose of: the client's picture of the
 * space no longer matches the server's, and only a fresh `joined` (reconnect) repairs it.
 */
export class MotionDesyncError extends DecodeError {
  override name = "MotionDesyncError";
  constructor(readonly index: number) {
    super(`compact motion codes index ${index} against a pose this client was never sent`);
  }
}

/** What a client knows of a space that coded motion refers to. */
export interface KnownIndices {
  person(index: number): { user: Uuid; pose: QPose } | undefined;
  object(index: number): Uuid | undefined;
}

/**
 * Reads a coded list of avatar moves; each keeps its exact pose (see `poseOf`), which
 * relative coding refers to next. Entries of indices `known` does not have are skipped:
 * a datagram can overtake the delta that announces someone.
 */
export function readAvatarList(input: Reader, known: KnownIndices): AvatarMove[] {
  const moves: AvatarMove[] = [];
  readEntries(input, (index) => {
    const who = known.person(index);
    const pose = readPose(input, index, () => who?.pose ?? null);
    if (!who) return;
    const move = { index, user: who.user, transform: transformOf(pose) };
    keepPose(move, pose);
    moves.push(move);
  });
  return moves;
}

/** Reads a coded list of object moves (always coded against the zero pose). */
export function readObjectList(input: Reader, known: KnownIndices): ObjectMove[] {
  const moves: ObjectMove[] = [];
  readEntries(input, (index) => {
    const pose = readPose(input, index, () => null);
    const version = input.u64();
    const id = known.object(index);
    if (id === undefined) return;
    const move = { index, id, transform: transformOf(pose), version };
    keepPose(move, pose);
    moves.push(move);
  });
  return moves;
}

function readEntries(input: Reader, entry: (index: number) => void): void {
  const count = input.u64();
  if (count > input.remaining) throw new DecodeError(`a motion list of ${count} entries in ${input.remaining} bytes`);
  let next = 0;
  for (let i = 0; i < count; i++) {
    const index = next + input.u64();
    if (index > 0xffffffff) throw new DecodeError("a motion index overflows u32");
    next = index + 1;
    entry(index);
  }
  input.end("motion list");
}

/**
 * Codes avatar moves as a list, in rising index order, each against `baseOf(index)`
 * (`null`: the zero pose). Positions are quantised as the server does.
 */
export function writeAvatarList(out: Writer, moves: readonly AvatarMove[], baseOf: (index: number) => QPose | null): void {
  writeEntries(out, moves, (move) => writePose(out, poseOf(move), baseOf(move.index)));
}

/** Codes object moves as a list, each against the zero pose. */
export function writeObjectList(out: Writer, moves: readonly ObjectMove[]): void {
  writeEntries(out, moves, (move) => {
    writePose(out, poseOf(move), null);
    out.varint(move.version);
  });
}

function writeEntries<T extends { index: number }>(out: Writer, entries: readonly T[], body: (entry: T) => void): void {
  const sorted = [...entries].sort((a, b) => a.index - b.index);
  out.varint(sorted.length);
  let next = 0;
  for (const entry of sorted) {
    out.varint(Math.max(0, entry.index - next));
    next = entry.index + 1;
    body(entry);
  }
}
