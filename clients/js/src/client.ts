// The typed client: `connect()` opens a connection (WebTransport, else WebSocket), says
// hello and waits for the welcome; then `join`, `spawn`, `move`, `say`, `pose`, ... send
// requests whose promises settle by their answers or refusals (see requests.ts), and the
// mirror of the space (mirror.ts) follows everything the server sends.
//
// When the connection drops, the client reconnects by itself with exponential backoff
// and takes its session back with the welcome's resume token while the server still
// holds it (`resume_grace_secs`); past that it starts a new session and joins the space
// again. Nothing the network sends throws: a frame that does not decode becomes an
// `error` event and is dropped.
//
// In a cluster, a join (or the space the client is in) may be answered with `moved`: the
// space is simulated by another node. The client follows it by itself (`followMoves`):
// it connects to that node with the same credentials, joins the space there (a join
// under way resolves with that node's `joined`), and resets the mirror on that `joined`.

import { getSpace } from "./api.js";
import { Connection, now, type ConnectionState, type MovePolicy, type Outgoing, type ReconnectPolicy } from "./connection.js";
import { Emitter, PlazaError, type ClientErrorCode } from "./events.js";
import { encodeClient } from "./messages.js";
import { SpaceMirror, type MirrorEvents } from "./mirror.js";
import { isUuid } from "./postcard.js";
import { Requests, type PendingRequest } from "./requests.js";
import type { LinkClosed, TransportKind, WebSocketConstructor, WebTransportConstructor } from "./transport.js";
import { identity, type ClientMsg, type Codec, type MsgOf, type Props, type ServerMsg, type ShareKind, type Transform, type Uuid, type WireChat } from "./types.js";

export type { ConnectionState, MovePolicy, ReconnectPolicy };

export interface ConnectOptions {
  /** The server's HTTP address, e.g. `http://127.0.0.1:8700` (a `ws://…/ws` URL also works). */
  url: string;
  /** A guest's name (ignored with `token`). */
  name?: string;
  /** The guest secret a guest name's first welcome gave (`client.guestSecret`). */
  secret?: string | null;
  /** A login token (`login()`), for a registered user. */
  token?: string;
  /** An anonymous visitor id the application keeps (8–128 of `[A-Za-z0-9_-]`). */
  visitor?: string;
  /** Default `postcard`. */
  codec?: Codec;
  /** Default `auto`: WebTransport where the runtime has it, else (or if it fails) WebSocket. */
  transport?: "auto" | TransportKind;
  /** How WebTransport trusts the server; default `auto` (pins `/cert-hash` unless `url` is https). */
  certificate?: "auto" | "pin" | "system";
  /** A WebSocket implementation where the runtime has none (Node 20: the `ws` package). */
  WebSocket?: WebSocketConstructor;
  WebTransport?: WebTransportConstructor;
  fetch?: typeof fetch;
  /** `false` turns reconnecting off. */
  reconnect?: boolean | Partial<ReconnectPolicy>;
  /**
   * Follow `moved` (the space is on another node of the cluster) by reconnecting there
   * and joining it again. Default on, at most `{ maxMoves: 3, withinMs: 10_000 }`: a
   * further move within the window is refused with `moved_too_often`. `false`: not
   * followed; the join is rejected with `moved` and the `moved` event tells where to go.
   */
  followMoves?: boolean | Partial<MovePolicy>;
  /** Connecting and the welcome, each. Default 10 s. */
  connectTimeoutMs?: number;
  /** How long an answer may take. Default 15 s. */
  requestTimeoutMs?: number;
  /** Quiet period after which a request the server does not answer counts as done. Default 500 ms. */
  settleMs?: number;
  /** Requests that may wait for a connection; more are refused with `queue_full`. Default 256. */
  maxQueuedMessages?: number;
  /**
   * Bytes an open connection may hold unsent before requests are refused with
   * `queue_full` and poses are dropped. Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /** How often to ping; a connection silent for twice this plus 5 s is given up. Default 15 s; 0 off. */
  heartbeatMs?: number;
  /** Send `pose` as a datagram on WebTransport (newest wins). Default true. */
  poseDatagrams?: boolean;
  /** Chat lines the mirror keeps. Default 200. */
  chatHistory?: number;
}

export type ClientEvents = Omit<MirrorEvents, "error"> & {
  /** Every welcome: the first, and each after a reconnect. */
  welcome: [welcome: MsgOf<ServerMsg, "welcome">];
  /** The client entered a space (or got its state again after a resume). */
  joined: [space: SpaceMirror];
  left: [space: Uuid];
  signal: [from: Uuid, data: string];
  /** Every message from the server, after the mirror took it in. */
  message: [msg: ServerMsg];
  reconnecting: [info: { attempt: number; delayMs: number; reason: string }];
  reconnected: [info: { resumed: boolean; transport: TransportKind }];
  /**
   * The space (joined, or being joined) is on another node: `following` if the client
   * is on its way there (`reconnecting`, `reconnected` and `joined` follow; the mirror
   * starts over on that `joined`), false if it is not (`followMoves: false`, or moved
   * too often: an `error` or the join's rejection says why) and is now in no space.
   */
  moved: [moved: MsgOf<ServerMsg, "moved">, following: boolean];
  /**
   * The space being joined is full: the client waits in its line at `position` (1: next
   * in), and stays in the space it was in meanwhile. Comes again as the line moves; the
   * join resolves (with `joined`) when it is let in, and does not time out while it waits.
   * `leave()` gives the place up.
   */
  queued: [space: string, position: number];
  /** WebTransport was not used, and why. */
  fallback: [reason: string];
  /** For good: the client will not reconnect. */
  closed: [info: LinkClosed];
  /** What nobody awaits: refusals of requests without a promise, bad frames, desyncs. */
  error: [error: PlazaError];
};

/** Connects, says hello, and resolves once welcomed. */
export async function connect(options: ConnectOptions): Promise<Client> {
  const client = new Client(options);
  await client.opened;
  return client;
}

export class Client {
  /** Resolves once the first welcome came; rejects if it never does. */
  readonly opened: Promise<void>;
  /** The space the client is in. */
  readonly space: SpaceMirror;
  user: Uuid | null = null;
  session: Uuid | null = null;
  name: string | null = null;
  registered = false;
  /** Bearer token for HTTP while this session lasts. */
  sessionToken: string | null = null;

  private readonly options: ConnectOptions;
  private readonly codec: Codec;
  private readonly events: Emitter<ClientEvents>;
  private readonly requests: Requests;
  private readonly connection: Connection;
  /** The space the application asked to be in, to join again in a new session. */
  private desiredSpace: string | null = null;
  private joinRequest: { space: string; ref: number; outgoing: Outgoing; promise: Promise<SpaceMirror> } | null = null;
  /** A `moved` was followed (or given up for the `url`): the next `joined` (another node's) starts the mirror over. */
  private resetMirror = false;

  constructor(options: ConnectOptions) {
    this.options = options;
    this.codec = options.codec ?? "postcard";
    this.space = new SpaceMirror(options.chatHistory ?? 200);
    this.events = new Emitter<ClientEvents>((error, event) => this.listenerFailed(error, String(event)));
    this.space.on("error", (error) => this.report(error));
    this.requests = new Requests({
      timeoutMs: options.requestTimeoutMs ?? 15_000,
      // A refusal takes about a tick and a round trip: wait at least twice that.
      settleMs: () => Math.max(options.settleMs ?? 500, 2 * ((this.connection.rttMs ?? 0) + 1000 / this.connection.tickRate)),
    });
    const reconnect =
      options.reconnect === false
        ? null
        : { initialDelayMs: 250, maxDelayMs: 10_000, maxAttempts: 30, ...(typeof options.reconnect === "object" ? options.reconnect : {}) };
    const moves = { maxMoves: 3, withinMs: 10_000, ...(typeof options.followMoves === "object" ? options.followMoves : {}) };
    if (options.followMoves === false) moves.maxMoves = 0;
    this.connection = new Connection(
      {
        transport: {
          url: options.url,
          transport: options.transport ?? "auto",
          certificate: options.certificate ?? "auto",
          connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
          maxFrameBytes: 16 * 1024 * 1024,
          WebSocket: options.WebSocket,
          WebTransport: options.WebTransport,
          fetch: options.fetch,
        },
        codec: this.codec,
        reconnect,
        moves,
        maxQueued: options.maxQueuedMessages ?? 256,
        maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
        heartbeatMs: options.heartbeatMs ?? 15_000,
        poseDatagrams: options.poseDatagrams !== false,
      },
      { name: options.name ?? "", token: options.token ?? null, secret: options.secret ?? null, visitor: options.visitor ?? null },
      {
        message: (msg) => this.dispatch(msg),
        welcomed: (welcome, reconnected) => this.onWelcome(welcome, reconnected),
        lost: () => this.requests.connectionLost(),
        reconnecting: (info) => this.events.emit("reconnecting", info),
        moving: (moved) => {
          this.resetMirror = true;
          this.events.emit("moved", moved, true);
        },
        // Back from a node a move named to the address given: another node's joined too.
        returning: () => void (this.resetMirror = true),
        fallback: (reason) => this.events.emit("fallback", reason),
        finished: (info, onPurpose) => this.onFinished(info, onPurpose),
        report: (error) => this.report(error),
      },
    );
    this.opened = this.connection.start();
    this.opened.catch(() => {});
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  get transport(): TransportKind | null {
    return this.connection.transport;
  }

  /** The node connected to: the `url` option, or the one the last followed `moved` named (until it could not be reached). */
  get url(): string {
    return this.connection.url;
  }

  /** Keep it for later connections of the same guest name (the `secret` option). */
  get guestSecret(): string | null {
    return this.connection.guestSecret;
  }

  /** The round trip of the last ping, in ms. */
  get rttMs(): number | null {
    return this.connection.rttMs;
  }

  // --- events -----------------------------------------------------------------------

  /** Listens to a client or mirror event; returns a function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): () => void {
    if (isMirrorEvent(event)) return this.space.on(event, listener as never);
    return this.events.on(event, listener);
  }

  off<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): void {
    if (isMirrorEvent(event)) this.space.off(event, listener as never);
    else this.events.off(event, listener);
  }

  private report(error: PlazaError): void {
    if (this.events.has("error")) this.events.emit("error", error);
  }

  private listenerFailed(error: unknown, event: string): void {
    const failure = new PlazaError("listener_failed", `a ${event} listener threw: ${String(error)}`, null, { cause: error });
    if (event === "error") console.error(failure);
    else this.report(failure);
  }

  // --- requests ---------------------------------------------------------------------

  /** Enters a space by name (created on first join) or by id; resolves with its mirror. */
  async join(space: string): Promise<SpaceMirror> {
    const name = isUuid(space) ? (await getSpace({ url: this.connection.url, token: this.sessionToken, fetch: this.options.fetch }, space)).name : space;
    const ref = this.requests.nextRef();
    const { promise, request } = this.requests.track("join", ref, (msg) => (msg.type === "joined" && msg.name === name ? this.space : undefined));
    const previous = this.joinRequest;
    const outgoing = this.outgoing(request);
    this.joinRequest = { space: name, ref, outgoing, promise };
    previous?.outgoing.fail("superseded", `a join of ${JSON.stringify(name)} came after it`);
    this.desiredSpace = name;
    this.submit({ type: "join", space: name, ref }, outgoing, true);
    return promise.finally(() => {
      if (this.joinRequest?.ref === ref) this.joinRequest = null;
    });
  }

  /** Leaves the space. */
  leave(): Promise<void> {
    this.desiredSpace = null;
    // A join still waiting (in a full space's line, say) is given up with it.
    this.joinRequest?.outgoing.fail("superseded", "a leave came after it");
    return this.request("leave", null, { type: "leave" }, (msg) => (msg.type === "left" ? null : undefined));
  }

  /** Creates an object owned by you; resolves with its id. */
  spawn(object: { model: string; transform?: Partial<Transform>; props?: Props }): Promise<Uuid> {
    const ref = this.requests.nextRef();
    const msg: ClientMsg = { type: "spawn", ref, model: object.model, transform: fullTransform(object.transform), props: object.props ?? {} };
    return this.request("spawn", ref, msg, (answer) => (answer.type === "spawned" && answer.ref === ref ? answer.id : undefined));
  }

  /** Moves an object; resolves when the space shows it moved, or no refusal came. */
  move(id: Uuid, transform: Partial<Transform>): Promise<void> {
    const ref = this.requests.nextRef();
    const moved = (msg: ServerMsg) => ((msg.type === "delta" || msg.type === "motion") && msg.objects.some((o) => o.id === id) ? null : undefined);
    return this.request("move", ref, { type: "move", id, transform: fullTransform(transform), ref }, moved, true);
  }

  /** Replaces an object's props; resolves when the space shows it, or no refusal came. */
  setProps(id: Uuid, props: Props): Promise<void> {
    const ref = this.requests.nextRef();
    const changed = (msg: ServerMsg) => (msg.type === "delta" && msg.objects.some((o) => o.id === id) ? null : undefined);
    return this.request("set_props", ref, { type: "set_props", id, props, ref }, changed, true);
  }

  /** Removes an object; resolves when the space shows it gone. */
  despawn(id: Uuid): Promise<void> {
    const ref = this.requests.nextRef();
    const gone = (msg: ServerMsg) => (msg.type === "delta" && msg.removed.includes(id) ? null : undefined);
    return this.request("despawn", ref, { type: "despawn", id, ref }, gone, true);
  }

  /** Says something in the space; resolves with the line as everyone got it. */
  say(text: string): Promise<WireChat> {
    const ref = this.requests.nextRef();
    return this.request("chat", ref, { type: "chat", text, ref }, (msg) => {
      if (msg.type !== "chat" || msg.from !== this.user || msg.text !== text) return undefined;
      const { type: _, ...line } = msg;
      return line;
    });
  }

  /**
   * Moves your avatar. Not acknowledged: newest wins (a datagram on WebTransport); while
   * disconnected only the newest pose is kept, and sent after reconnecting.
   */
  pose(transform: Partial<Transform>): void {
    let payload: Uint8Array | string;
    try {
      payload = encodeClient({ type: "pose", transform: fullTransform(transform) }, this.codec);
    } catch (error) {
      throw new PlazaError("invalid_request", `pose: ${String(error)}`, null, { cause: error });
    }
    this.connection.pose(payload);
  }

  /** Starts sharing your screen (the media goes peer to peer; see `signal`). */
  shareScreen(kind: ShareKind = "screen"): Promise<void> {
    const ref = this.requests.nextRef();
    const echoed = (msg: ServerMsg) => (msg.type === "screen_share" && msg.active && msg.share.user === this.user ? null : undefined);
    return this.request("screen_share_start", ref, { type: "screen_share_start", kind, ref }, echoed);
  }

  /** Stops sharing (the protocol gives this no ref and no answer of its own). */
  stopSharing(): void {
    this.submit({ type: "screen_share_stop" }, null);
  }

  /** Relays a WebRTC signaling message to someone in your space; resolves if not refused. */
  signal(to: Uuid, data: string): Promise<void> {
    const ref = this.requests.nextRef();
    return this.request("signal", ref, { type: "signal", to, data, ref }, () => undefined, true);
  }

  /** Measures the round trip, in ms. */
  ping(): Promise<number> {
    const t = now();
    return this.request("ping", null, { type: "ping", t }, (msg) => (msg.type === "pong" && msg.t === t ? now() - t : undefined));
  }

  /** Closes on purpose: the session ends and the space sees you leave. */
  close(): void {
    this.connection.close();
  }

  /**
   * Lets the connection go without a close handshake, as a lost network would; the
   * client then reconnects and resumes. For tests, and for a link the application knows
   * to be dead.
   */
  drop(): void {
    this.connection.drop();
  }

  // --- plumbing -----------------------------------------------------------------------

  private request<T>(
    kind: PendingRequest["kind"],
    ref: number | null,
    msg: ClientMsg,
    answer: (msg: ServerMsg) => T | undefined,
    settles = false,
  ): Promise<T extends null ? void : T> {
    const { promise, request } = this.requests.track(kind, ref, answer, settles);
    this.submit(msg, this.outgoing(request));
    return promise.then((value) => (value === null ? undefined : value)) as Promise<T extends null ? void : T>;
  }

  private outgoing(request: PendingRequest): Outgoing {
    return {
      sent: () => this.requests.sent(request),
      fail: (code, message) => request.reject(new PlazaError(code, message, request.ref)),
    };
  }

  private submit(msg: ClientMsg, outgoing: Outgoing | null, first = false): void {
    let payload: Uint8Array | string;
    try {
      payload = encodeClient(msg, this.codec);
    } catch (error) {
      outgoing?.fail("invalid_request", `${msg.type}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.connection.submit(payload, outgoing, first);
  }

  private onWelcome(welcome: MsgOf<ServerMsg, "welcome">, reconnected: boolean): Promise<unknown> | null {
    this.user = welcome.user;
    this.session = welcome.session;
    this.name = welcome.name;
    this.registered = welcome.registered;
    this.sessionToken = welcome.token;
    this.events.emit("welcome", welcome);
    if (!reconnected) return null;
    if (this.joinRequest) {
      // A join under way when the link dropped is sent again, with its ref.
      const { space, ref, outgoing } = this.joinRequest;
      this.submit({ type: "join", space, ref }, outgoing, true);
    } else if (!welcome.resumed && this.desiredSpace) {
      // A new session is in no space: join the one the application was in.
      this.join(this.desiredSpace).catch((error: PlazaError) => this.report(error));
    }
    this.events.emit("reconnected", { resumed: welcome.resumed, transport: this.connection.transport ?? "websocket" });
    // Commands queued meanwhile only make sense in the space: they wait for the join.
    return this.joinRequest?.promise ?? null;
  }

  private dispatch(msg: ServerMsg): void {
    if (msg.type === "joined" && this.resetMirror) {
      // Another node's snapshot: start over rather than compare with the old node's.
      this.resetMirror = false;
      this.space.clear();
    }
    this.space.apply(msg);
    switch (msg.type) {
      case "joined":
        this.events.emit("joined", this.space);
        break;
      case "left":
        this.events.emit("left", msg.space);
        break;
      case "signal":
        this.events.emit("signal", msg.from, msg.data);
        break;
      case "error":
        if (!this.requests.refuse(msg)) this.report(new PlazaError(msg.code, msg.message, msg.ref));
        break;
      case "moved":
        this.onMoved(msg);
        break;
      case "queued":
        if (msg.space === this.joinRequest?.space) this.requests.queued();
        this.events.emit("queued", msg.space, msg.position);
        break;
    }
    this.requests.answer(msg);
    this.events.emit("message", msg);
  }

  /** Follows a `moved` for the space joined or being joined; one for another space is stale. */
  private onMoved(msg: MsgOf<ServerMsg, "moved">): void {
    const wanted = this.joinRequest?.space ?? this.desiredSpace;
    if (msg.space !== wanted) return;
    let refusal: PlazaError;
    if (this.options.followMoves === false) {
      refusal = new PlazaError("moved", `the space ${JSON.stringify(msg.space)} is on node ${msg.node} (${msg.http_url}); followMoves is off`);
    } else {
      try {
        // Emits `moved` (through the `moving` hook), then reconnects there.
        this.connection.follow(msg);
        this.desiredSpace = msg.space;
        return;
      } catch (error) {
        refusal = error instanceof PlazaError ? error : new PlazaError("bad_frame", String(error), null, { cause: error });
      }
    }
    // Not followed: in no space here, and none to join again after a reconnect.
    this.desiredSpace = null;
    this.space.clear();
    this.events.emit("moved", msg, false);
    // follow() refuses with the client's own codes only.
    if (this.joinRequest) this.joinRequest.outgoing.fail(refusal.code as ClientErrorCode, refusal.message);
    else this.report(refusal);
  }

  private onFinished(info: LinkClosed, onPurpose: boolean): void {
    const message = onPurpose ? "the client was closed" : `the connection closed: ${info.reason || info.code}`;
    this.requests.rejectAll(new PlazaError("closed", message));
    this.events.emit("closed", info);
  }
}

const MIRROR_EVENTS = new Set<string>(["objectAdded", "objectChanged", "objectRemoved", "userJoined", "userLeft", "userMoved", "chat", "share"]);

function isMirrorEvent(event: PropertyKey): event is Exclude<keyof MirrorEvents, "error"> {
  return typeof event === "string" && MIRROR_EVENTS.has(event);
}

/** A full transform from a partial one (unrotated, natural size by default). */
function fullTransform(t: Partial<Transform> | undefined): Transform {
  const base = identity();
  return { pos: t?.pos ?? base.pos, rot: t?.rot ?? base.rot, scale: t?.scale ?? base.scale };
}
