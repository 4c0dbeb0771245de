// A small typed event emitter (browsers have no EventEmitter, and EventTarget cannot
// type its events), and PlazaError, the one error type the SDK rejects and emits with.

import type { ErrorCode } from "./types.js";

/** Reasons the client itself gives, besides the server's error codes. */
export type ClientErrorCode =
  /** No answer came in time. */
  | "timeout"
  /** The connection dropped before the answer came; the request may or may not have taken effect. */
  | "disconnected"
  /** The client was closed (by `close()`, or for good by the server). */
  | "closed"
  /** A newer request replaced it (a `join` of another space, or a `leave` after a `join`). */
  | "superseded"
  /** Too many requests waited for a connection; see `maxQueuedMessages`. */
  | "queue_full"
  /** A frame from the server could not be decoded; it was dropped. */
  | "bad_frame"
  /** Compact motion did not fit what the client knows; it reconnects to start over. */
  | "desync"
  /** No transport could connect. */
  | "connect_failed"
  /** The request cannot be encoded (a malformed id, props that are not an object, ...). */
  | "invalid_request"
  /** An event listener threw. */
  | "listener_failed"
  /** The space is on another node and the client did not follow (`followMoves: false`). */
  | "moved"
  /** The space was sent to another node too often in a row (`followMoves`): not followed, to avoid a loop. */
  | "moved_too_often";

/** A refusal by the server (`code` one of its error codes) or a failure the client saw. */
export class PlazaError extends Error {
  override name = "PlazaError";
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    /** The `ref` of the request this is about, when there was one. */
    readonly ref: number | null = null,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.status = options?.status ?? null;
  }

  /** For the HTTP helpers' errors: the response's status (409, 413, 422, ...). */
  readonly status: number | null;
}

type Listener<A extends unknown[]> = (...args: A) => void;
// Listeners of every event are kept in one map, so their types are erased there.
type AnyListener = (...args: unknown[]) => void;
type EventMap = { [event: string]: unknown[] };

/** Typed listeners; a listener that throws is reported to `onListenerError`, never to the sender. */
export class Emitter<Events extends EventMap> {
  private listeners = new Map<keyof Events, Set<AnyListener>>();

  constructor(private readonly onListenerError: (error: unknown, event: keyof Events) => void) {}

  /** Calls `listener` on every `event`; returns a function that stops it. */
  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as AnyListener);
    return () => this.off(event, listener);
  }

  /** Calls `listener` on the next `event` only. */
  once<E extends keyof Events>(event: E, listener: Listener<Events[E]>): () => void {
    const off = this.on(event, (...args: Events[E]) => {
      off();
      listener(...args);
    });
    return off;
  }

  off<E extends keyof Events>(event: E, listener: Listener<Events[E]>): void {
    this.listeners.get(event)?.delete(listener as unknown as AnyListener);
  }

  /** Whether anyone listens to `event`. */
  has(event: keyof Events): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }
}
