// Keeping a session alive: opening a link (transport.ts), the hello and welcome, decoding
// what arrives against the space's indices, a bounded outbox for what is sent while
// there is no link, a heartbeat that notices a dead link, and reconnecting with
// exponential backoff, taking the session back with the welcome's resume token within
// the server's grace period. What the application does with the session is client.ts.
//
// A `moved` (the space is simulated by another node of the cluster) is followed through
// the same reconnect path: the link here is closed, the target becomes the node it
// names, and the next hello goes there with the same credentials and the resume token:
// that node takes the session over from this one (same session id; the client joins the
// space again, as `welcome.resumed` is false).
// Following is bounded (`MovePolicy`), so that two nodes sending a client back and
// forth cannot keep it reconnecting. A node a `moved` named can be dead (it failed over
// before its lease ran out, or died right after sending clients to it): when reconnecting
// to such a target cannot connect twice in a row (the link does not open; a refused hello
// does not count), the target goes back to the address the application gave (a load
// balancer, or any node, that routes to the space's new owner), and the same reconnect
// loop goes on there, joining the space again as after any reconnect (with the resume
// token, which any node of the cluster passes to the node holding the session, and the
// mirror starting over, as after a move).

import { PlazaError, type ClientErrorCode } from "./events.js";
import { IndexTable } from "./indices.js";
import { decodeServer, encodeClient } from "./messages.js";
import { MotionDesyncError } from "./motion.js";
import { fromHex } from "./postcard.js";
import { openLink, type KnownWebTransport, type Link, type LinkClosed, type TransportKind, type TransportOptions } from "./transport.js";
import { PROTOCOL_VERSION, type ClientMsg, type Codec, type MsgOf, type ServerMsg } from "./types.js";

export interface ReconnectPolicy {
  /** Delay before the first attempt; each failed attempt doubles it. Default 250 ms. */
  initialDelayMs: number;
  /** Longest delay between attempts. Default 10 s. */
  maxDelayMs: number;
  /** Attempts before giving up for good. Default 30. */
  maxAttempts: number;
}

/** How many `moved` in a row are followed: more than `maxMoves` within `withinMs` is a loop. */
export interface MovePolicy {
  /** Moves followed within `withinMs`; the next one is refused. Default 3. */
  maxMoves: number;
  /** Default 10 s. */
  withinMs: number;
}

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Who says hello. */
export interface Identity {
  name: string;
  token: string | null;
  secret: string | null;
  visitor: string | null;
}

export interface ConnectionSettings {
  transport: Omit<TransportOptions, "codec" | "transport"> & { transport: TransportOptions["transport"] };
  codec: Codec;
  reconnect: ReconnectPolicy | null;
  /** How `moved` is followed (see `follow`). */
  moves: MovePolicy;
  /** Messages that may wait for a link; past it a request is refused with `queue_full`. */
  maxQueued: number;
  /**
   * Bytes the open link may hold unsent (a server or network slower than the sender);
   * past it requests are refused with `queue_full` and poses are dropped (the next one
   * supersedes them).
   */
  maxBufferedBytes: number;
  heartbeatMs: number;
  poseDatagrams: boolean;
}

/** A message waiting to go out tells its request when it went, or why it never will. */
export interface Outgoing {
  sent(): void;
  fail(code: ClientErrorCode, message: string): void;
}

export interface ConnectionHooks {
  /** Every message after the welcome, decoded and with its motion resolved. */
  message(msg: ServerMsg): void;
  /** A welcome. After a reconnect, a returned promise holds queued messages until it settles. */
  welcomed(welcome: MsgOf<ServerMsg, "welcome">, reconnected: boolean): Promise<unknown> | null;
  /** The link dropped; a new one is on its way. */
  lost(reason: string): void;
  reconnecting(info: { attempt: number; delayMs: number; reason: string }): void;
  /** A `moved` is being followed: the link here is about to close (before `lost`). */
  moving(moved: MsgOf<ServerMsg, "moved">): void;
  /** The node a `moved` named could not be reached: reconnecting to the address given instead (another node, as for a move). */
  returning(reason: string): void;
  /** WebTransport was not used, and why. */
  fallback(reason: string): void;
  /** Ended for good (`onPurpose`: by `close()`). */
  finished(info: LinkClosed, onPurpose: boolean): void;
  report(error: PlazaError): void;
}

/** Close codes after which reconnecting would be refused or fight someone: kicked, replaced, too big, streams. */
const FINAL_CLOSE_CODES = new Set([1000, 1008, 1009, 4001, 4002]);
/** Where the connection goes: the address it was given, or the node a `moved` named. */
export interface Target {
  /** The HTTP base (or WebSocket URL) of the node. */
  url: string;
  transport: TransportOptions["transport"];
  /** Its WebTransport endpoint and certificate hash, when a `moved` gave them. */
  webTransport: KnownWebTransport | null;
}

/**
 * Where a `moved` sends the connection. On a WebTransport link, to the node's
 * WebTransport (`https://<host of http_url>:<webtransport_port>/wt`, its certificate
 * pinned by `cert_sha256`) if it has one, falling back to its WebSocket as usual under
 * `auto`; otherwise to its WebSocket (`http_url` with ws:/wss:, path `/ws`). Throws a
 * PlazaError (`bad_frame`) for an `http_url` that is not an http(s) URL.
 */
export function followTarget(moved: MsgOf<ServerMsg, "moved">, current: TransportKind | null, wanted: TransportOptions["transport"]): Target {
  let http: URL;
  try {
    http = new URL(moved.http_url);
  } catch {
    throw new PlazaError("bad_frame", `moved: http_url ${JSON.stringify(moved.http_url)} is not a URL`);
  }
  if (http.protocol !== "http:" && http.protocol !== "https:") {
    throw new PlazaError("bad_frame", `moved: http_url ${JSON.stringify(moved.http_url)} is not an http or https URL`);
  }
  if (current === "webtransport" && moved.webtransport_port > 0) {
    const hash = /^[0-9a-f]{64}$/i.test(moved.cert_sha256) ? fromHex(moved.cert_sha256.toLowerCase()) : null;
    return {
      url: moved.http_url,
      transport: wanted === "webtransport" ? "webtransport" : "auto",
      webTransport: { url: `https://${http.hostname}:${moved.webtransport_port}/wt`, certificateHash: hash },
    };
  }
  return { url: moved.http_url, transport: "websocket", webTransport: null };
}

/** Failed connects in a row to a node a `moved` named before going back to the address given. */
const MOVED_CONNECT_FAILURES = 2;

/** Welcome refusals no retry cures. */
const FINAL_HELLO_ERRORS = new Set(["unauthorized", "protocol_mismatch", "bad_message", "too_large"]);

export class Connection {
  state: ConnectionState = "connecting";
  transport: TransportKind | null = null;
  /** The round trip of the last heartbeat, in ms. */
  rttMs: number | null = null;
  tickRate = 20;
  /** Kept from the first welcome of a new guest name, for every later hello. */
  guestSecret: string | null;

  private link: Link | null = null;
  private readonly table = new IndexTable();
  private forceWebSocket = false;
  private outbox: Array<{ payload: Uint8Array | string; outgoing: Outgoing | null }> = [];
  /** The newest pose not sent yet: poses are not queued, the newest wins. */
  private unsentPose: Uint8Array | string | null = null;
  private holdOutbox = false;
  private handshake: { resolve: () => void; reject: (error: PlazaError) => void } | null = null;
  private resumeToken: string | null = null;
  private resumeGraceMs = 0;
  private lostAt: number | null = null;
  private lastFrameAt = 0;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private wake: (() => void) | null = null;
  private backoffTimer: ReturnType<typeof setTimeout> | null = null;
  private target: Target;
  /** The address the application gave; `target` is it unless a `moved` was followed. */
  private readonly origin: Target;
  /** `forceWebSocket` as it was for `origin` when a move left it (a dead node's failed WebTransport says nothing of it). */
  private originForceWebSocket = false;
  /** Whether the last `establish` opened a link (it failed later, if it failed). */
  private reached = false;
  /** When the recent `moved` were followed (within the policy's window). */
  private follows: number[] = [];

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly identity: Identity,
    private readonly hooks: ConnectionHooks,
  ) {
    this.guestSecret = identity.secret;
    this.origin = { url: settings.transport.url, transport: settings.transport.transport, webTransport: null };
    this.target = this.origin;
  }

  /** The address of the node connected to: the one given, or where the last `moved` sent it (while that node can be reached). */
  get url(): string {
    return this.target.url;
  }

  /** The first connection; rejects (and ends for good) if it is not welcomed. */
  async start(): Promise<void> {
    try {
      await this.establish();
    } catch (error) {
      this.finish({ code: null, reason: error instanceof Error ? error.message : String(error) }, false);
      throw error;
    }
  }

  /**
   * Sends `payload` now, or queues it until there is a link. `first`: goes ahead of the
   * queue even while it is held (a join the held messages wait for).
   */
  submit(payload: Uint8Array | string, outgoing: Outgoing | null, first = false): void {
    if (this.state === "closed") return outgoing?.fail("closed", "the client is closed");
    if (first) this.outbox = this.outbox.filter((queued) => queued.outgoing !== outgoing || outgoing === null);
    if (this.state === "open" && this.link && (!this.holdOutbox || first)) {
      if (this.link.buffered() > this.settings.maxBufferedBytes) {
        return outgoing?.fail("queue_full", `over ${this.settings.maxBufferedBytes} bytes wait to be sent: the connection is slower than the requests`);
      }
      return this.transmit(payload, outgoing);
    }
    if (this.outbox.length >= this.settings.maxQueued) {
      return outgoing?.fail("queue_full", `${this.settings.maxQueued} messages already wait for a connection`);
    }
    this.outbox.push({ payload, outgoing });
  }

  /** Sends a pose: as a datagram where possible; without a link only the newest is kept. */
  pose(payload: Uint8Array | string): void {
    if (this.state !== "open" || this.holdOutbox || !this.link) {
      if (this.state !== "closed") this.unsentPose = payload;
      return;
    }
    if (this.settings.poseDatagrams && this.link.sendDatagram(payload)) return;
    // A pose that would wait behind a backlog is stale before it leaves: drop it.
    if (this.link.buffered() > this.settings.maxBufferedBytes) return;
    this.transmit(payload, null, "pose");
  }

  /** Closes on purpose: the server ends the session at once. */
  close(): void {
    if (this.state === "closed") return;
    const link = this.link;
    this.link = null;
    link?.close(1000, "closed by the client");
    this.finish({ code: 1000, reason: "closed by the client" }, true);
  }

  /**
   * Follows a `moved`: closes the link here (this node's session is over: the client is
   * in no space here) and reconnects to the node it names through the reconnect path
   * (`followTarget` says how), saying hello with the same name and guest secret, or
   * token, and the resume token (the node takes the session over). The first attempt goes at once; the later ones back off
   * as any reconnect (a single attempt with reconnecting off); two of them in a row that
   * cannot connect send the loop back to the address given. Throws a PlazaError, and
   * changes nothing, for a move past the policy (`moved_too_often`) or an unusable
   * `http_url` (`bad_frame`).
   */
  follow(moved: MsgOf<ServerMsg, "moved">): void {
    if (this.state !== "open") throw new PlazaError("closed", `not connected: cannot follow a move to ${moved.node}`);
    const { maxMoves, withinMs } = this.settings.moves;
    const at = now();
    this.follows = this.follows.filter((t) => at - t < withinMs);
    if (this.follows.length >= maxMoves) {
      throw new PlazaError(
        "moved_too_often",
        `the space ${JSON.stringify(moved.space)} was sent to another node ${maxMoves + 1} times within ${withinMs} ms (now to ${moved.node}): not following, to avoid a loop`,
      );
    }
    const target = followTarget(moved, this.transport, this.settings.transport.transport);
    this.follows.push(at);
    if (this.target === this.origin) this.originForceWebSocket = this.forceWebSocket;
    this.target = target;
    this.hooks.moving(moved);
    const link = this.link;
    this.link = null;
    this.stopHeartbeat();
    link?.close(1000, `moved to ${moved.node}`);
    // The next node takes the session over from this one with the resume token.
    this.lostAt = now();
    this.state = "reconnecting";
    const reason = `the space ${JSON.stringify(moved.space)} is on node ${moved.node} (${moved.http_url})`;
    this.hooks.lost(reason);
    void this.reconnectLoop(reason, this.settings.reconnect ?? { initialDelayMs: 0, maxDelayMs: 0, maxAttempts: 1 }, 0);
  }

  /** Lets the link go without a close handshake, as a lost network would; then reconnects. */
  drop(): void {
    const link = this.link;
    if (!link || this.state !== "open") return;
    link.abandon();
    this.onLinkClosed(link, { code: null, reason: "dropped by the client" });
  }

  /**
   * Sends on the link. If the link fails under it, a message is kept for the next link
   * (`keep`: at the head of the queue; `pose`: as the newest pose; `drop`: not at all).
   */
  private transmit(payload: Uint8Array | string, outgoing: Outgoing | null, ifFailed: "keep" | "pose" | "drop" = "keep"): void {
    try {
      this.link!.send(payload);
    } catch {
      if (ifFailed === "keep") this.outbox.unshift({ payload, outgoing });
      else if (ifFailed === "pose") this.unsentPose ??= payload;
      const link = this.link!;
      link.abandon();
      this.onLinkClosed(link, { code: null, reason: "sending failed" });
      return;
    }
    outgoing?.sent();
  }

  private flush(): void {
    while (this.outbox.length && this.state === "open" && !this.holdOutbox && this.link) {
      const { payload, outgoing } = this.outbox.shift()!;
      this.transmit(payload, outgoing);
    }
    if (this.unsentPose && this.state === "open" && !this.holdOutbox && this.link) {
      const pose = this.unsentPose;
      this.unsentPose = null;
      this.transmit(pose, null, "pose");
    }
  }

  /** Opens a link, says hello and waits for the welcome. */
  private async establish(): Promise<void> {
    let link: Link;
    this.reached = false;
    try {
      const { url, webTransport } = this.target;
      const transport = this.forceWebSocket ? "websocket" : this.target.transport;
      link = await openLink(
        { ...this.settings.transport, url, webTransport, codec: this.settings.codec, transport },
        {
          frame: (payload, datagram) => this.onFrame(link, payload, datagram),
          closed: (info) => this.onLinkClosed(link, info),
          failure: (message) => link === this.link && this.hooks.report(new PlazaError("bad_frame", message)),
        },
        (why) => {
          // WebTransport failed once: later reconnects go straight to WebSocket.
          this.forceWebSocket = true;
          this.hooks.fallback(why);
        },
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new PlazaError("connect_failed", `cannot connect to ${this.target.url}: ${reason}`, null, { cause: error });
    }
    if (this.state === "closed") {
      link.close(1000, "closed by the client");
      throw new PlazaError("closed", "the client was closed while connecting");
    }
    this.reached = true;
    this.link = link;
    this.transport = link.kind;
    this.table.reset();
    this.lastFrameAt = now();
    const welcomed = new Promise<void>((resolve, reject) => (this.handshake = { resolve, reject }));
    const timeoutMs = this.settings.transport.connectTimeoutMs;
    const timer = setTimeout(() => this.handshake?.reject(new PlazaError("timeout", `no welcome within ${timeoutMs} ms`)), timeoutMs);
    const resume = this.resumeToken && this.lostAt !== null && now() - this.lostAt < this.resumeGraceMs ? this.resumeToken : null;
    const { name, token, visitor } = this.identity;
    const hello: ClientMsg = {
      type: "hello",
      protocol: PROTOCOL_VERSION,
      name: token ? "" : name,
      token,
      visitor,
      secret: token ? null : this.guestSecret,
      versions: [PROTOCOL_VERSION],
      codec: null,
      resume,
    };
    try {
      link.send(encodeClient(hello, this.settings.codec));
      await welcomed;
    } catch (error) {
      if (this.link === link) this.link = null;
      // No session came of it: nothing to keep open for a resume.
      link.close(1000, "no welcome");
      throw error instanceof PlazaError ? error : new PlazaError("connect_failed", String(error), null, { cause: error });
    } finally {
      clearTimeout(timer);
      this.handshake = null;
    }
  }

  private onWelcome(welcome: MsgOf<ServerMsg, "welcome">): void {
    if (welcome.protocol !== PROTOCOL_VERSION) {
      this.handshake?.reject(new PlazaError("protocol_mismatch", `the server answered in protocol ${welcome.protocol}; this client speaks ${PROTOCOL_VERSION}`));
      return;
    }
    const reconnected = this.state === "reconnecting";
    this.guestSecret = welcome.guest_secret ?? this.guestSecret;
    this.resumeToken = welcome.resume;
    this.resumeGraceMs = welcome.resume_grace_secs * 1000;
    this.tickRate = welcome.tick_rate || 20;
    this.lostAt = null;
    this.state = "open";
    this.handshake?.resolve();
    this.startHeartbeat();
    const hold = this.hooks.welcomed(welcome, reconnected);
    if (hold) {
      this.holdOutbox = true;
      hold
        .finally(() => {
          this.holdOutbox = false;
          this.flush();
        })
        .catch(() => {});
    }
    this.flush();
  }

  private onFrame(link: Link, payload: Uint8Array | string, datagram: boolean): void {
    if (link !== this.link) return;
    this.lastFrameAt = now();
    let msg: ServerMsg | null;
    try {
      msg = decodeServer(payload, this.settings.codec, this.table);
    } catch (error) {
      if (error instanceof MotionDesyncError) {
        this.hooks.report(new PlazaError("desync", `${error.message}; reconnecting to start over`, null, { cause: error }));
        link.abandon();
        this.onLinkClosed(link, { code: null, reason: "compact motion out of step" });
        return;
      }
      const reason = error instanceof Error ? error.message : String(error);
      this.hooks.report(new PlazaError("bad_frame", `a ${datagram ? "datagram" : "frame"} from the server was dropped: ${reason}`, null, { cause: error }));
      return;
    }
    if (!msg) return;
    if (this.handshake) {
      if (msg.type === "welcome") this.onWelcome(msg);
      else if (msg.type === "error") this.handshake.reject(new PlazaError(msg.code, msg.message, msg.ref));
      return;
    }
    if (msg.type === "pong" && msg.t > 0) this.rttMs = Math.max(0, now() - msg.t);
    if (msg.type === "welcome") return;
    try {
      this.hooks.message(msg);
    } catch (error) {
      // A fault of ours must not take the link down with it.
      this.hooks.report(new PlazaError("bad_frame", `a ${msg.type} could not be applied: ${String(error)}`, null, { cause: error }));
    }
  }

  private onLinkClosed(link: Link, info: LinkClosed): void {
    if (link !== this.link) return;
    this.link = null;
    this.stopHeartbeat();
    if (this.handshake) {
      this.handshake.reject(new PlazaError(info.code === null ? "connect_failed" : "closed", `the connection closed before the welcome: ${info.reason || info.code}`));
      return;
    }
    if (this.state !== "open") return;
    if (!this.settings.reconnect || (info.code !== null && FINAL_CLOSE_CODES.has(info.code))) {
      this.finish(info, false);
      return;
    }
    this.state = "reconnecting";
    this.lostAt = now();
    const reason = info.reason || `closed with code ${info.code}`;
    this.hooks.lost(reason);
    void this.reconnectLoop(reason, this.settings.reconnect);
  }

  /**
   * Reconnects with backoff; `firstDelayMs`: the first attempt's delay instead (a move's: 0).
   * A target a `moved` named that cannot be connected to `MOVED_CONNECT_FAILURES` times in
   * a row is given up for the address given (see the top of this file).
   */
  private async reconnectLoop(reason: string, policy: ReconnectPolicy, firstDelayMs: number | null = null): Promise<void> {
    let unreachable = 0;
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      // Jitter, so that many clients dropped at once do not come back at once.
      const delayMs = attempt === 1 && firstDelayMs !== null ? firstDelayMs : Math.round(base * (0.5 + Math.random() / 2));
      this.hooks.reconnecting({ attempt, delayMs, reason });
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.backoffTimer = setTimeout(resolve, delayMs);
      });
      this.wake = null;
      if ((this.state as ConnectionState) === "closed") return;
      try {
        await this.establish();
        return;
      } catch (error) {
        if ((this.state as ConnectionState) === "closed") return;
        if (error instanceof PlazaError && FINAL_HELLO_ERRORS.has(error.code)) {
          this.finish({ code: null, reason: `the server refused the session: ${error.message}` }, false);
          return;
        }
        reason = error instanceof Error ? error.message : String(error);
        unreachable = this.reached ? 0 : unreachable + 1;
        if (this.target !== this.origin && unreachable >= MOVED_CONNECT_FAILURES) {
          reason = `${reason}; ${unreachable} failed connects to the node a moved named: back to ${this.origin.url}`;
          this.target = this.origin;
          this.forceWebSocket = this.originForceWebSocket;
          // The resume token goes along: any node passes it on to the node holding the session.
          unreachable = 0;
          this.hooks.returning(reason);
        }
      }
    }
    this.finish({ code: null, reason: `gave up reconnecting after ${policy.maxAttempts} attempts: ${reason}` }, false);
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const every = this.settings.heartbeatMs;
    if (every <= 0) return;
    this.heartbeat = setInterval(() => {
      const link = this.link;
      if (!link || this.state !== "open") return;
      if (now() - this.lastFrameAt > 2 * every + 5000) {
        link.abandon();
        this.onLinkClosed(link, { code: null, reason: `nothing from the server for ${Math.round(now() - this.lastFrameAt)} ms` });
        return;
      }
      this.transmit(encodeClient({ type: "ping", t: now() }, this.settings.codec), null, "drop");
    }, every);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private finish(info: LinkClosed, onPurpose: boolean): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.handshake?.reject(new PlazaError("closed", "the client was closed while connecting"));
    this.stopHeartbeat();
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.wake?.();
    this.link?.abandon();
    this.link = null;
    const message = onPurpose ? "the client was closed" : `the connection closed: ${info.reason || info.code}`;
    for (const { outgoing } of this.outbox) outgoing?.fail("closed", message);
    this.outbox = [];
    this.unsentPose = null;
    this.hooks.finished(info, onPurpose);
  }
}

/** Milliseconds on a clock that only goes forward. */
export function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
