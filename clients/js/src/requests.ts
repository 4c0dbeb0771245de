// Requests waiting for their outcome. Every request the protocol lets carry a `ref`
// gets a fresh one; a refusal carrying that ref rejects it. What resolves it depends on
// the request: its answer (`spawned`, `joined`, `left`, `pong`, the chat line or screen
// share echoed back), or for requests the server never answers when they succeed
// (`move`, `set_props`, `despawn`, `signal`) their effect in the space or, failing that,
// a quiet period after sending in which no refusal came. The server answers such
// commands at the end of the next tick, so a refusal takes about one tick and a round trip.

import { PlazaError } from "./events.js";
import type { ErrorCode, MsgOf, ServerMsg } from "./types.js";

export type RequestKind = "join" | "leave" | "spawn" | "move" | "set_props" | "despawn" | "chat" | "screen_share_start" | "signal" | "ping";

export interface PendingRequest {
  readonly kind: RequestKind;
  readonly ref: number | null;
  /** The request's outcome from a message, or undefined if the message is not it. */
  readonly answer: (msg: ServerMsg) => unknown;
  /** Succeeds after the quiet period if nothing answered or refused it. */
  readonly settles: boolean;
  resolve(value: unknown): void;
  reject(error: PlazaError): void;
  timer: ReturnType<typeof setTimeout> | null;
  sent: boolean;
}

/** Error codes the server may send without a ref for a join it refused after loading the space. */
const JOIN_REFUSALS_WITHOUT_REF: readonly ErrorCode[] = ["unavailable", "forbidden", "full"];

export class Requests {
  private lastRef = 0;
  private readonly pending = new Set<PendingRequest>();

  constructor(
    private readonly timing: {
      /** How long an answer may take once the request is sent. */
      timeoutMs: number;
      /** The quiet period of requests the server does not answer when they succeed. */
      settleMs: () => number;
    },
  ) {}

  /** A ref no request in flight holds (u32, never 0). */
  nextRef(): number {
    do {
      this.lastRef = this.lastRef >= 0xffffffff ? 1 : this.lastRef + 1;
    } while ([...this.pending].some((p) => p.ref === this.lastRef));
    return this.lastRef;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Starts waiting for a request's outcome. */
  track<T>(kind: RequestKind, ref: number | null, answer: (msg: ServerMsg) => T | undefined, settles = false): { promise: Promise<T>; request: PendingRequest } {
    let request!: PendingRequest;
    const promise = new Promise<T>((resolve, reject) => {
      const finish = () => {
        if (request.timer) clearTimeout(request.timer);
        this.pending.delete(request);
      };
      request = {
        kind,
        ref,
        answer,
        settles,
        timer: null,
        sent: false,
        resolve: (value) => (finish(), resolve(value as T)),
        reject: (error) => (finish(), reject(error)),
      };
    });
    this.pending.add(request);
    return { promise, request };
  }

  /** The request went out: its clock starts now. */
  sent(request: PendingRequest): void {
    if (!this.pending.has(request)) return;
    request.sent = true;
    if (request.timer) clearTimeout(request.timer);
    request.timer = request.settles
      ? setTimeout(() => request.resolve(undefined), this.timing.settleMs())
      : setTimeout(
          () => request.reject(new PlazaError("timeout", `no answer to ${request.kind} within ${this.timing.timeoutMs} ms`, request.ref)),
          this.timing.timeoutMs,
        );
  }

  /** Resolves every request `msg` answers. */
  answer(msg: ServerMsg): void {
    for (const request of [...this.pending]) {
      if (!request.sent) continue;
      const outcome = request.answer(msg);
      if (outcome !== undefined) request.resolve(outcome);
    }
  }

  /**
   * A join was answered with `queued`: the space is full and it waits in line, which may
   * take longer than any answer, so its clock stops (`joined`, a refusal or `leave` end it).
   */
  queued(): void {
    for (const request of this.pending) {
      if (request.kind !== "join" || !request.sent || !request.timer) continue;
      clearTimeout(request.timer);
      request.timer = null;
    }
  }

  /** Rejects the request `error` refuses; false if it refuses none of them. */
  refuse(error: MsgOf<ServerMsg, "error">): boolean {
    let target: PendingRequest | undefined;
    if (error.ref !== null) {
      target = [...this.pending].find((p) => p.ref === error.ref && p.sent);
    } else if (JOIN_REFUSALS_WITHOUT_REF.includes(error.code)) {
      target = [...this.pending].find((p) => p.kind === "join" && p.sent);
    }
    if (!target) return false;
    target.reject(new PlazaError(error.code, error.message, error.ref));
    return true;
  }

  /**
   * The connection dropped. Requests already sent may or may not have taken effect and
   * their answers are lost: they are rejected with `disconnected`, except joins, which
   * the new connection repeats. Requests not sent yet wait for it.
   */
  connectionLost(): void {
    for (const request of [...this.pending]) {
      if (!request.sent) continue;
      if (request.kind === "join") {
        // Its clock restarts when the join is sent again.
        if (request.timer) clearTimeout(request.timer);
        request.timer = null;
        continue;
      }
      request.reject(new PlazaError("disconnected", `the connection dropped before ${request.kind} was answered`, request.ref));
    }
  }

  /** Rejects everything (the client closed). */
  rejectAll(error: PlazaError): void {
    for (const request of [...this.pending]) request.reject(new PlazaError(error.code, error.message, request.ref));
  }
}
