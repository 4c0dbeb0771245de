// The two ways a Plaza client reaches the server (docs/protocol.md, "Transports"):
// WebTransport, with every message length-prefixed on one bidirectional stream and
// motion in datagrams, and WebSocket, one message per WebSocket message (binary for
// postcard, text for JSON). `openLink` tries WebTransport where it exists and falls back
// to WebSocket by itself when it is missing or fails.
//
// A self-signed server is trusted by the SHA-256 it serves at `GET /cert-hash`
// (`serverCertificateHashes`), as the server's own page does; a node a `moved` named
// (`webTransport` option) by the port and SHA-256 the `moved` carried.

import type { Codec } from "./types.js";

export type TransportKind = "webtransport" | "websocket";

/** How the connection ended. */
export interface LinkClosed {
  /** The close code (WebSocket close code, or the WebTransport application code), if one came. */
  code: number | null;
  reason: string;
}

/** What a link hands upwards. Payloads are strings for WebSocket text frames, else bytes. */
export interface LinkEvents {
  frame(payload: Uint8Array | string, datagram: boolean): void;
  closed(info: LinkClosed): void;
  /** A frame the link itself could not read (an oversized length prefix); the link then closes. */
  failure(message: string): void;
}

/** One open connection. */
export interface Link {
  readonly kind: TransportKind;
  /** Sends one message reliably, in order. */
  send(payload: Uint8Array | string): void;
  /** Sends one message as a datagram if the link has them and it fits; false otherwise. */
  sendDatagram(payload: Uint8Array | string): boolean;
  /** Bytes handed to `send` that the transport has not passed to the network yet. */
  buffered(): number;
  /** Closes on purpose: the server ends the session at once. */
  close(code?: number, reason?: string): void;
  /**
   * Lets the connection go without a close handshake, as a lost network would, so the
   * server holds the session for a resume. Nothing more is reported from it.
   */
  abandon(): void;
}

/** The part of a WebSocket the client uses (browsers' and Node's, or the `ws` package's). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  /** Bytes queued by `send` and not yet transmitted (browsers, Node and `ws` all have it). */
  readonly bufferedAmount?: number;
  // Handlers are typed loosely: the `ws` package's event types differ from the DOM's.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  /** `ws` package only: drops the TCP connection without a close frame. */
  terminate?(): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;
export type WebTransportConstructor = new (url: string, options?: WebTransportOptions) => WebTransport;

export interface TransportOptions {
  /** The server's HTTP address, e.g. `http://127.0.0.1:8700` (or a `ws://…/ws` URL). */
  url: string;
  codec: Codec;
  /** `auto` (default): WebTransport where available, else or on failure WebSocket. */
  transport: "auto" | TransportKind;
  /** `auto` (default): pin the hash from `/cert-hash` unless the server's address is https. */
  certificate: "auto" | "pin" | "system";
  connectTimeoutMs: number;
  /**
   * A WebTransport endpoint known already (from a `moved`): its URL and the SHA-256 of
   * its certificate, used instead of asking `url`'s `/cert-hash`. Without a hash, or
   * with one that is not 32 bytes, the hash is asked of `/cert-hash` after all.
   */
  webTransport?: KnownWebTransport | null | undefined;
  /** Largest frame read from the server on a stream; a longer length prefix ends the link. */
  maxFrameBytes: number;
  WebSocket?: WebSocketConstructor | undefined;
  WebTransport?: WebTransportConstructor | undefined;
  fetch?: typeof fetch | undefined;
}

/** A node's WebTransport endpoint as a `moved` names it. */
export interface KnownWebTransport {
  /** `https://host:port/wt`. */
  url: string;
  /** The certificate's SHA-256 (32 bytes), or null if none was given. */
  certificateHash: Uint8Array | null;
}

const WS_OPEN = 1;
/**
 * How long an abandoned connection is left open before it is closed after all: by
 * then a resume has taken the session elsewhere (closing the old one ends nothing), or
 * the old connection is dead anyway.
 */
const ABANDONED_CLOSE_MS = 10_000;

function closeLater(close: () => void): void {
  const timer = setTimeout(() => {
    try {
      close();
    } catch {
      // Closed already.
    }
  }, ABANDONED_CLOSE_MS);
  // In Node, an abandoned connection must not keep the process alive.
  (timer as { unref?: () => void }).unref?.();
}
const utf8 = new TextEncoder();

/** The HTTP base of `url` (`ws://h/ws` → `http://h/`), ending in a slash. */
export function httpBase(url: string): URL {
  const base = new URL(url);
  if (base.protocol === "ws:" || base.protocol === "wss:") {
    base.protocol = base.protocol === "ws:" ? "http:" : "https:";
    base.pathname = base.pathname.replace(/ws\/?$/, "");
  }
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  base.search = "";
  base.hash = "";
  return base;
}

function webSocketUrl(url: string, codec: Codec): string {
  const given = new URL(url);
  const target = given.protocol.startsWith("ws") ? given : new URL("ws", httpBase(url));
  if (!given.protocol.startsWith("ws")) target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
  target.searchParams.set("codec", codec);
  return target.toString();
}

/**
 * Opens a link: WebTransport first when asked for (or `auto` and available), WebSocket
 * otherwise or when WebTransport fails under `auto`. `onFallback` hears why it fell back.
 */
export async function openLink(options: TransportOptions, events: LinkEvents, onFallback?: (why: string) => void): Promise<Link> {
  const WT = options.WebTransport ?? (globalThis as { WebTransport?: WebTransportConstructor }).WebTransport;
  if (options.transport !== "websocket") {
    if (WT) {
      try {
        return await openWebTransport(WT, options, events);
      } catch (error) {
        if (options.transport === "webtransport") throw error;
        onFallback?.(`WebTransport failed (${errorText(error)}); using WebSocket`);
      }
    } else if (options.transport === "webtransport") {
      throw new Error("this runtime has no WebTransport");
    }
  }
  const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WS) throw new Error("this runtime has no WebSocket: pass one as the `WebSocket` option (e.g. the `ws` package)");
  return openWebSocket(WS, options, events);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} took longer than ${ms} ms`));
    }, ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error) => (clearTimeout(timer), reject(error)),
    );
  });
}

// --- WebSocket ----------------------------------------------------------------------

async function openWebSocket(WS: WebSocketConstructor, options: TransportOptions, events: LinkEvents): Promise<Link> {
  const socket = new WS(webSocketUrl(options.url, options.codec));
  socket.binaryType = "arraybuffer";
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("the WebSocket could not connect"));
      socket.onclose = (event) => reject(new Error(`the WebSocket closed while connecting (${event?.code ?? "no code"})`));
    }),
    options.connectTimeoutMs,
    "opening the WebSocket",
    () => socket.close(),
  );
  let live = true;
  let pending: Promise<void> = Promise.resolve();
  // Frames are handed up through one promise chain, so a Blob (from a runtime that
  // ignores binaryType, read asynchronously) cannot overtake the frames after it.
  const deliver = (read: () => Uint8Array | string | Promise<Uint8Array>) => {
    pending = pending
      .then(async () => {
        const payload = await read();
        if (live) events.frame(payload, false);
      })
      .catch((error) => {
        if (live) events.failure(`a WebSocket message could not be read: ${errorText(error)}`);
      });
  };
  socket.onmessage = (event: { data: unknown }) => {
    const data = event.data;
    if (typeof data === "string") deliver(() => data);
    else if (data instanceof ArrayBuffer) deliver(() => new Uint8Array(data));
    else if (ArrayBuffer.isView(data)) deliver(() => new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else if (typeof Blob !== "undefined" && data instanceof Blob) deliver(async () => new Uint8Array(await data.arrayBuffer()));
    else if (live) events.failure("a WebSocket message of an unknown kind");
  };
  socket.onerror = () => {};
  socket.onclose = (event: { code?: number; reason?: string }) => {
    if (!live) return;
    live = false;
    // 1006: the connection dropped without a close frame.
    const code = event.code && event.code !== 1006 && event.code !== 1005 ? event.code : null;
    pending.then(() => events.closed({ code, reason: event.reason ?? "" }));
  };
  const stop = () => {
    live = false;
    socket.onmessage = socket.onclose = socket.onerror = null;
  };
  return {
    kind: "websocket",
    send(payload) {
      if (!live || socket.readyState !== WS_OPEN) throw new Error("the WebSocket is not open");
      socket.send(payload);
    },
    sendDatagram: () => false,
    buffered: () => socket.bufferedAmount ?? 0,
    close(code = 1000, reason = "") {
      stop();
      socket.close(code, reason);
    },
    abandon() {
      stop();
      if (socket.terminate) return socket.terminate();
      // Browsers cannot drop a WebSocket without a close frame, which would end the
      // session. The server closes the abandoned socket when the session is resumed on
      // the next connection; if it is still there later, closing it ends nothing more.
      closeLater(() => socket.close(1000, "abandoned"));
    },
  };
}

// --- WebTransport -------------------------------------------------------------------

interface CertHash {
  algorithm: string;
  bytes: number[];
  webtransport_port: number;
}

/** Where WebTransport connects and the certificate hash to pin (null: the system's trust). */
async function webTransportEndpoint(options: TransportOptions): Promise<{ url: string; pinned: Uint8Array | null }> {
  const base = httpBase(options.url);
  const pin = options.certificate === "pin" || (options.certificate === "auto" && base.protocol !== "https:");
  const known = options.webTransport;
  // A node named by a `moved`: its port and hash came with it, no /cert-hash to ask.
  if (known && (!pin || known.certificateHash?.length === 32)) return { url: known.url, pinned: pin ? known.certificateHash : null };
  const fetcher = options.fetch ?? globalThis.fetch;
  const response = await withTimeout(fetcher(new URL("cert-hash", base)), options.connectTimeoutMs, "GET /cert-hash", () => {});
  if (!response.ok) throw new Error(`GET /cert-hash answered ${response.status}`);
  const cert = (await response.json()) as CertHash;
  if (!Number.isInteger(cert.webtransport_port) || !Array.isArray(cert.bytes)) throw new Error("GET /cert-hash gave no WebTransport port");
  return { url: known?.url ?? `https://${base.hostname}:${cert.webtransport_port}/wt`, pinned: pin ? new Uint8Array(cert.bytes) : null };
}

async function openWebTransport(WT: WebTransportConstructor, options: TransportOptions, events: LinkEvents): Promise<Link> {
  const endpoint = await webTransportEndpoint(options);
  const url = `${endpoint.url}${options.codec === "json" ? "?codec=json" : ""}`;
  const transport = new WT(url, endpoint.pinned ? { serverCertificateHashes: [{ algorithm: "sha-256", value: new Uint8Array(endpoint.pinned) }] } : {});
  transport.closed.catch(() => {});
  let stream: WebTransportBidirectionalStream;
  try {
    await withTimeout(transport.ready, options.connectTimeoutMs, "the WebTransport handshake", () => {});
    stream = await transport.createBidirectionalStream();
  } catch (error) {
    try {
      transport.close();
    } catch {
      // Already failed: nothing to close.
    }
    throw error;
  }
  const writer = stream.writable.getWriter();
  const datagrams = transport.datagrams.writable.getWriter();
  let live = true;
  const end = (info: LinkClosed) => {
    if (!live) return;
    live = false;
    events.closed(info);
  };
  transport.closed.then(
    (info) => end({ code: info.closeCode ?? null, reason: info.reason ?? "" }),
    (error) => end({ code: null, reason: errorText(error) }),
  );
  void readFrames(stream.readable, options.maxFrameBytes, (payload) => live && events.frame(payload, false)).then(async (problem) => {
    if (problem && live) events.failure(problem);
    // The stream can end before the connection's close arrives with its code (a kick
    // must not look like a lost network): wait a moment for it.
    const closing = await Promise.race([transport.closed.catch(() => null), new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
    if (closing) return end({ code: closing.closeCode ?? null, reason: closing.reason ?? "" });
    try {
      transport.close();
    } catch {
      // Closed already.
    }
    end({ code: null, reason: problem ?? "the server finished the stream" });
  });
  void readDatagrams(transport, (payload) => live && events.frame(payload, true));
  const bytesOf = (payload: Uint8Array | string) => (typeof payload === "string" ? utf8.encode(payload) : payload);
  // Bytes written to the stream whose write has not completed: what is still buffered.
  let unsent = 0;
  return {
    kind: "webtransport",
    send(payload) {
      if (!live) throw new Error("the WebTransport connection is closed");
      const body = bytesOf(payload);
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      unsent += frame.length;
      writer
        .write(frame)
        .catch(() => {})
        .finally(() => (unsent -= frame.length));
    },
    buffered: () => unsent,
    sendDatagram(payload) {
      const body = bytesOf(payload);
      if (!live || body.length > (transport.datagrams.maxDatagramSize ?? 1200)) return false;
      datagrams.write(body).catch(() => {});
      return true;
    },
    close(code = 0, reason = "") {
      live = false;
      writer.close().catch(() => {});
      try {
        transport.close({ closeCode: code, reason });
      } catch {
        // Closed already.
      }
    },
    abandon() {
      // A close now would end the session: leave it open, as for WebSocket.
      live = false;
      closeLater(() => transport.close());
    },
  };
}

/** Bytes received but not yet read, kept as the chunks they came in: each byte is copied once. */
class ChunkQueue {
  private chunks: Uint8Array[] = [];
  /** Bytes of the first chunk already taken. */
  private offset = 0;
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The next `count` bytes, taken off the front (`length` must be at least `count`). */
  take(count: number): Uint8Array {
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0]!;
      const piece = Math.min(count - filled, chunk.length - this.offset);
      out.set(chunk.subarray(this.offset, this.offset + piece), filled);
      filled += piece;
      this.offset += piece;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    this.length -= count;
    return out;
  }
}

/**
 * Reads length-prefixed frames until the stream ends. Returns why it stopped early (a
 * frame over `maxFrameBytes` or cut short), or null for a clean end between frames.
 */
async function readFrames(readable: ReadableStream<Uint8Array>, maxFrameBytes: number, frame: (payload: Uint8Array) => void): Promise<string | null> {
  const reader = readable.getReader();
  const queue = new ChunkQueue();
  let expected: number | null = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return queue.length > 0 || expected !== null ? "the stream ended in the middle of a frame" : null;
      queue.push(value);
      for (;;) {
        if (expected === null) {
          if (queue.length < 4) break;
          expected = new DataView(queue.take(4).buffer).getUint32(0);
          // Past the limit the stream cannot be followed: skipping would mean reading it all.
          if (expected > maxFrameBytes) return `the server sent a frame of ${expected} bytes, over the limit of ${maxFrameBytes}`;
        }
        if (queue.length < expected) break;
        const payload = queue.take(expected);
        expected = null;
        frame(payload);
      }
    }
  } catch (error) {
    return `the stream failed: ${errorText(error)}`;
  } finally {
    reader.releaseLock();
  }
}

async function readDatagrams(transport: WebTransport, datagram: (payload: Uint8Array) => void): Promise<void> {
  const reader = transport.datagrams.readable.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      datagram(value as Uint8Array);
    }
  } catch {
    // The connection ended; the stream reader reports it.
  }
}
