// The postcard wire format as Plaza uses it (docs/protocol.md, "Postcard (binary)"):
// LEB128 varints, zigzag for signed numbers, little-endian floats, length-prefixed strings
// and bytes, UUIDs as 16 bytes, options and sequences. Messages are built from these by
// messages.ts; nothing here knows about Plaza's messages.
//
// Integers are JavaScript numbers. u64 values (ticks, versions) are exact up to 2^53;
// anything larger is refused rather than silently rounded.

/** A frame (or a part of one) that does not follow the wire format. */
export class DecodeError extends Error {
  override name = "DecodeError";
}

const utf8Encoder = new TextEncoder();
// fatal: postcard refuses strings that are not UTF-8, so the client does too.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** Largest integer a number holds exactly. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** Appends postcard-encoded values to a growing byte buffer. */
export class Writer {
  private buffer = new Uint8Array(64);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  /** The bytes written so far (a copy, so the writer can be reused). */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  private reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value & 0xff;
  }

  /** An unsigned integer as LEB128 (u32 and u64 alike). */
  varint(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > MAX_EXACT) {
      throw new RangeError(`not an unsigned integer postcard can carry exactly: ${value}`);
    }
    // Division rather than shifts: JavaScript shifts work on 32 bits only.
    while (value >= 0x80) {
      this.u8((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.u8(value);
  }

  /** A u16, as a varint like every unsigned integer; refuses what a u16 cannot hold. */
  u16(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`not a u16: ${value}`);
    this.varint(value);
  }

  /** A signed integer, zigzagged (0, -1, 1, -2 → 0, 1, 2, 3), then as a varint. */
  signed(value: number): void {
    this.varint(zigzag(value));
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  f32(value: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, value, true);
    this.length += 4;
  }

  f64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /** Raw bytes, without a length. */
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A byte string: its length, then the bytes. */
  bytes(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.raw(bytes);
  }

  string(text: string): void {
    this.bytes(utf8Encoder.encode(text));
  }

  /** A UUID travels as a byte string of length 16, in RFC 4122 order. */
  uuid(id: string): void {
    this.bytes(uuidBytes(id));
  }

  option<T>(value: T | null | undefined, write: (value: T) => void): void {
    if (value === null || value === undefined) {
      this.u8(0);
    } else {
      this.u8(1);
      write(value);
    }
  }

  seq<T>(items: readonly T[], write: (item: T) => void): void {
    this.varint(items.length);
    for (const item of items) write(item);
  }
}

/** Reads postcard-encoded values from a byte array, front to back. */
export class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly input: Uint8Array) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.input.length - this.offset;
  }

  /** Refuses bytes after the end of a message, as the protocol does. */
  end(what: string): void {
    if (this.remaining !== 0) {
      throw new DecodeError(`${this.remaining} bytes after the end of the ${what}`);
    }
  }

  u8(): number {
    if (this.offset >= this.input.length) throw new DecodeError("the frame ends too early");
    return this.input[this.offset++]!;
  }

  /** A LEB128 varint of at most `maxBytes` bytes (5 for u32, 10 for u64). */
  varint(maxBytes = 10): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (value > MAX_EXACT) throw new DecodeError("a varint is larger than 2^53");
        return value;
      }
      scale *= 0x80;
    }
    throw new DecodeError("a varint is longer than its type allows");
  }

  u16(): number {
    const value = this.varint(3);
    if (value > 0xffff) throw new DecodeError("a u16 overflows");
    return value;
  }

  u32(): number {
    const value = this.varint(5);
    if (value > 0xffffffff) throw new DecodeError("a u32 overflows");
    return value;
  }

  u64(): number {
    return this.varint(10);
  }

  signed(): number {
    return unzigzag(this.varint(10));
  }

  i32(): number {
    const value = unzigzag(this.varint(5));
    if (value < -0x80000000 || value > 0x7fffffff) throw new DecodeError("an i32 overflows");
    return value;
  }

  bool(): boolean {
    const byte = this.u8();
    if (byte > 1) throw new DecodeError(`a bool holds ${byte}`);
    return byte === 1;
  }

  private take(count: number): number {
    if (count > this.remaining) throw new DecodeError("the frame ends too early");
    const at = this.offset;
    this.offset += count;
    return at;
  }

  f32(): number {
    return this.view.getFloat32(this.take(4), true);
  }

  f64(): number {
    return this.view.getFloat64(this.take(8), true);
  }

  /** `count` raw bytes (a view into the input, not a copy). */
  raw(count: number): Uint8Array {
    const at = this.take(count);
    return this.input.subarray(at, at + count);
  }

  bytes(): Uint8Array {
    return this.raw(this.varint(10));
  }

  string(): string {
    try {
      return utf8Decoder.decode(this.bytes());
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      throw new DecodeError("a string is not UTF-8");
    }
  }

  uuid(): string {
    const bytes = this.bytes();
    if (bytes.length !== 16) throw new DecodeError(`a UUID of ${bytes.length} bytes`);
    return uuidText(bytes);
  }

  option<T>(read: () => T): T | null {
    const tag = this.u8();
    if (tag === 0) return null;
    if (tag === 1) return read();
    throw new DecodeError(`an option tag of ${tag}`);
  }

  seq<T>(read: () => T): T[] {
    const count = this.varint(10);
    // Every item takes at least one byte: a count beyond what is left is a lie, and
    // checking it first keeps a hostile count from reserving memory.
    if (count > this.remaining) throw new DecodeError(`a list of ${count} items in ${this.remaining} bytes`);
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(read());
    return items;
  }
}

/** Zigzag of any integer a number holds exactly. */
export function zigzag(value: number): number {
  if (!Number.isInteger(value)) throw new RangeError(`not an integer: ${value}`);
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The canonical text form of 16 UUID bytes: lowercase, hyphenated. */
export function uuidText(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += "-";
    text += HEX[bytes[i]!];
  }
  return text;
}

/** The 16 bytes of a UUID written hyphenated or as 32 hex digits. */
export function uuidBytes(id: string): Uint8Array {
  if (!isUuid(id)) throw new RangeError(`not a UUID: ${JSON.stringify(id)}`);
  const digits = id.replace(/-/g, "");
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

const UUID_HYPHENATED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Whether `id` is a UUID in a form `uuidBytes` takes. */
export function isUuid(id: unknown): id is string {
  return typeof id === "string" && (UUID_HYPHENATED.test(id) || /^[0-9a-fA-F]{32}$/.test(id));
}

/** Bytes as lowercase hex (for tests and logs). */
export function toHex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += HEX[byte];
  return text;
}

export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new RangeError("not hex");
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
