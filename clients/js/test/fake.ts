// Test support: an in-memory WebSocket and a scripted server behind it, to drive the
// client through what a live server rarely does on cue: garbage frames, drops,
// refusals, expired sessions, closes for good.

import {
  decodeClient,
  encodeServer,
  type ClientMsg,
  type Codec,
  type MsgOf,
  type ServerMsg,
  type WebSocketConstructor,
  type WebSocketLike,
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
  /** How the client ended it: a close code, "terminated", or null while open. */
  endedBy: number | "terminated" | null = null;
  /** What a slow network leaves unsent; a test sets it. */
  bufferedAmount = 0;

  constructor(
    private readonly server: FakeServer,
    url: string,
  ) {
    this.codec = new URL(url).searchParams.get("codec") === "json" ? "json" : "postcard";
    server.sockets.push(this);
    setTimeout(() => {
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
  /** Whether a hello with the current resume token gets the session back. */
  resumable = true;
  /** A test's own answers; return true to skip the default ones. */
  script: ((socket: FakeSocket, msg: ClientMsg) => boolean) | null = null;
  private resumeCounter = 1;
  private tick = 100;

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
      const resumed = this.resumable && msg.resume === `resume-${this.resumeCounter}`;
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
        resume: `resume-${++this.resumeCounter}`,
        resume_grace_secs: 30,
        resumed,
      });
      if (resumed) socket.deliver(this.joined());
    } else if (msg.type === "join") {
      socket.deliver(this.joined(msg.space));
    }
  }
}
