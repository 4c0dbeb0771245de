// Test support: an in-memory WebSocket and a scripted server behind it, to drive the
// client through what a live server rarely does on cue: garbage frames, drops,
// refusals, expired sessions, closes for good. `cluster` and `fakeWebTransport` route
// by host to several such servers, the nodes of a cluster, for `moved`.

import {
  decodeClient,
  encodeServer,
  type ClientMsg,
  type Codec,
  type MsgOf,
  type ServerMsg,
  type WebSocketConstructor,
  type WebSocketLike,
  type WebTransportConstructor,
} from "../src/index.js";

export const SPACE_ID = "0190c2a8-1d00-7000-8000-000000000005";
export const USER_ID = "00000000-0000-0000-0000-00000000000a";
export const OTHER_ID = "00000000-0000-0000-0000-00000000000b";
export const SESSION_ID = "0190c2a8-1d00-7000-8000-0000000000aa";

export class FakeSocket implements WebSocketLike {
  binaryType = "blob";
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: unknown) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly codec: Codec;
  /** The URL the client opened. */
  readonly url: string;
  /** How the client ended it: a close code, "terminated", or null while open. */
  endedBy: number | "terminated" | null = null;
  /** What a slow network leaves unsent; a test sets it. */
  bufferedAmount = 0;

  constructor(
    private readonly server: FakeServer,
    url: string,
  ) {
    this.url = url;
    this.codec = new URL(url).searchParams.get("codec") === "json" ? "json" : "postcard";
    server.sockets.push(this);
    const refused = server.refusing;
    setTimeout(() => {
      if (refused) {
        // As a browser tells a refused connection: an error, then a close without a frame.
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code: 1006, reason: "" });
        return;
      }
      this.readyState = 1;
      this.onopen?.({});
    }, 0);
  }

  send(data: string | ArrayBufferView | ArrayBuffer): void {
    if (this.readyState !== 1) throw new Error("not open");
    const payload = typeof data === "string" ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const msg = decodeClient(payload, this.codec);
    setTimeout(() => this.server.handle(this, msg), 0);
  }

  close(code = 1000): void {
    this.readyState = 3;
    this.endedBy = code;
  }

  terminate(): void {
    this.readyState = 3;
    this.endedBy = "terminated";
  }

  /** The server sends a message. */
  deliver(msg: ServerMsg): void {
    this.raw(encodeServer(msg, this.codec));
  }

  /** The server sends any frame at all. */
  raw(data: string | Uint8Array): void {
    if (this.readyState !== 1) return;
    const copy = typeof data === "string" ? data : data.slice().buffer;
    this.onmessage?.({ data: copy });
  }

  /** The network drops (no close frame). */
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: "" });
  }

  /** The server closes with a code. */
  closeWith(code: number, reason: string): void {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: true });
  }
}

/** A server that welcomes, lets join and answers what a test scripts. */
export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  /** Every message, in arrival order, with the socket it came on. */
  readonly received: Array<{ socket: FakeSocket; msg: ClientMsg }> = [];
  /** A dead node: connections to it are refused (still recorded in `sockets`). */
  refusing = false;
  /** Whether a hello with the current resume token gets the session back. */
  resumable = true;
  /** A test's own answers; return true to skip the default ones. */
  script: ((socket: FakeSocket, msg: ClientMsg) => boolean) | null = null;
  private resumeCounter = 1;
  private tick = 100;

  /** `node`: a node of a cluster, whose resume tokens end in `@node` as a real node's do. */
  constructor(readonly node = "") {}

  private resumeToken(n: number): string {
    return `resume-${n}${this.node ? `@${this.node}` : ""}`;
  }

  get WebSocket(): WebSocketConstructor {
    const server = this;
    return class extends FakeSocket {
      constructor(url: string) {
        super(server, url);
      }
    };
  }

  get last(): FakeSocket {
    return this.sockets[this.sockets.length - 1]!;
  }

  /** The messages of one type, in order. */
  all<T extends ClientMsg["type"]>(type: T): Array<MsgOf<ClientMsg, T>> {
    return this.received.filter((r) => r.msg.type === type).map((r) => r.msg as MsgOf<ClientMsg, T>);
  }

  joined(name = "lobby"): MsgOf<ServerMsg, "joined"> {
    const transform = { pos: [0, 0, 0], rot: [0, 0, 0, 1], scale: [1, 1, 1] } as const;
    return {
      type: "joined",
      space: SPACE_ID,
      name,
      tick: ++this.tick,
      objects: [],
      users: [
        { user: USER_ID, index: 0, name: "me", transform: structuredClone(transform) as never },
        { user: OTHER_ID, index: 1, name: "other", transform: structuredClone(transform) as never },
      ],
      chat: [],
      shares: [],
    };
  }

  handle(socket: FakeSocket, msg: ClientMsg): void {
    this.received.push({ socket, msg });
    if (this.script?.(socket, msg)) return;
    if (msg.type === "hello") {
      const resumed = this.resumable && msg.resume === this.resumeToken(this.resumeCounter);
      socket.deliver({
        type: "welcome",
        session: SESSION_ID,
        user: USER_ID,
        protocol: 2,
        codec: socket.codec,
        tick_rate: 20,
        name: msg.name,
        registered: false,
        token: "session-token",
        guest_secret: msg.secret ? null : "guest-secret",
        resume: this.resumeToken(++this.resumeCounter),
        resume_grace_secs: 30,
        resumed,
      });
      if (resumed) socket.deliver(this.joined());
    } else if (msg.type === "join") {
      socket.deliver(this.joined(msg.space));
    }
  }
}

/** A WebSocket that reaches the fake server of its URL's host (`host:port`): a cluster's nodes (`refusing` ones refuse it). */
export function cluster(nodes: Record<string, FakeServer>): WebSocketConstructor {
  return class extends FakeSocket {
    constructor(url: string) {
      const server = nodes[new URL(url).host];
      if (!server) throw new Error(`no node at ${url}`);
      super(server, url);
    }
  };
}

/** What a fake WebTransport was opened with. */
export interface OpenedWebTransport {
  url: string;
  options: WebTransportOptions | undefined;
}

/**
 * An in-memory WebTransport to the fake server of its URL's host: a FakeSocket behind
 * one bidirectional stream of length-prefixed frames; datagrams go nowhere. `refused`
 * hosts, and `refusing` servers, fail the handshake. Every construction is recorded in `opened`.
 */
export function fakeWebTransport(nodes: Record<string, FakeServer>, opened: OpenedWebTransport[], refused: Set<string> = new Set()): WebTransportConstructor {
  const utf8 = new TextEncoder();
  class FakeWebTransport {
    readonly ready: Promise<void>;
    readonly closed: Promise<{ closeCode: number; reason: string }>;
    readonly datagrams = { readable: new ReadableStream<Uint8Array>(), writable: new WritableStream<Uint8Array>(), maxDatagramSize: 1200 };
    private readonly socket: FakeSocket | null = null;
    private toClient!: ReadableStreamDefaultController<Uint8Array>;
    private finish!: (info: { closeCode: number; reason: string }) => void;

    constructor(url: string, options?: WebTransportOptions) {
      opened.push({ url, options });
      this.closed = new Promise((resolve) => (this.finish = resolve));
      const host = new URL(url).host;
      const server = nodes[host];
      if (!server || refused.has(host) || server.refusing) {
        this.ready = Promise.reject(new Error(`no WebTransport at ${url}`));
        this.ready.catch(() => {});
        return;
      }
      const socket = new FakeSocket(server, url);
      socket.readyState = 1;
      socket.onmessage = (event) => {
        const { data } = event as { data: string | ArrayBuffer };
        const body = typeof data === "string" ? utf8.encode(data) : new Uint8Array(data);
        const frame = new Uint8Array(4 + body.length);
        new DataView(frame.buffer).setUint32(0, body.length);
        frame.set(body, 4);
        this.toClient.enqueue(frame);
      };
      this.socket = socket;
      this.ready = Promise.resolve();
    }

    async createBidirectionalStream() {
      const socket = this.socket!;
      return {
        readable: new ReadableStream<Uint8Array>({ start: (controller) => void (this.toClient = controller) }),
        // The client writes each frame whole: a 4-byte length, then the message.
        writable: new WritableStream<Uint8Array>({
          write: (frame) => socket.send(frame.subarray(4, 4 + new DataView(frame.buffer, frame.byteOffset).getUint32(0))),
        }),
      };
    }

    close(info?: { closeCode?: number; reason?: string }): void {
      this.socket?.close(info?.closeCode ?? 0);
      this.finish({ closeCode: info?.closeCode ?? 0, reason: info?.reason ?? "" });
    }
  }
  return FakeWebTransport as unknown as WebTransportConstructor;
}
