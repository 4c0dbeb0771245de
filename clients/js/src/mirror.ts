// The local mirror of the space a client is in: its objects, the people present (by
// user id and by index), its recent chat and its screen shares, kept up to date from
// `joined`, `delta`, `motion`, `chat`, `screen_share` and `left`, with an event for every
// change, so that a renderer only has to follow the events.
//
// A `joined` for the space already mirrored (a resumed session starts over from one) is
// compared with what the mirror holds, and only the differences become events.

import { Emitter, PlazaError } from "./events.js";
import type { MsgOf, ServerMsg, Transform, Uuid, WireChat, WireObject, WireShare, WireUser } from "./types.js";

/** Why something left the mirror. */
export type RemovalReason =
  /** Deleted (`removed`) or gone from the space (`left`). */
  | "removed"
  /** Out of view with a view radius (`hidden`, `vanished`); it still exists. */
  | "out_of_view"
  /** The client left the space, or joined another. */
  | "cleared";

export type MirrorEvents = {
  /** An object became known: created, came into view, or in a `joined` snapshot. */
  objectAdded: [object: WireObject];
  /** A known object changed (a newer version: moved, new props). */
  objectChanged: [object: WireObject, previous: WireObject];
  objectRemoved: [object: WireObject, reason: RemovalReason];
  /** Someone became known: arrived, came into view, or in a `joined` snapshot. */
  userJoined: [user: WireUser];
  userLeft: [user: WireUser, reason: RemovalReason];
  /** An avatar moved (one's own too: the server sends it back). */
  userMoved: [user: WireUser, previous: Transform];
  chat: [line: WireChat];
  /** Someone started (`active`) or stopped sharing their screen. */
  share: [share: WireShare, active: boolean];
  /** A listener of the mirror threw. */
  error: [error: PlazaError];
};

const sameTransform = (a: Transform, b: Transform) =>
  a.pos.every((v, i) => v === b.pos[i]) && a.rot.every((v, i) => v === b.rot[i]) && a.scale.every((v, i) => v === b.scale[i]);

export class SpaceMirror {
  /** The space's id, or null when in none. */
  id: Uuid | null = null;
  name: string | null = null;
  /** The tick of the newest state applied. */
  tick = 0;
  readonly objects = new Map<Uuid, WireObject>();
  readonly users = new Map<Uuid, WireUser>();
  /** Screen shares by the sharer's user id. */
  readonly shares = new Map<Uuid, WireShare>();
  /** Recent chat, oldest first, at most `chatLimit` lines. */
  readonly chat: WireChat[] = [];
  private readonly usersByIndex = new Map<number, Uuid>();
  private readonly events: Emitter<MirrorEvents>;

  constructor(private readonly chatLimit = 200) {
    this.events = new Emitter<MirrorEvents>((error, event) => {
      const failure = new PlazaError("listener_failed", `a ${String(event)} listener threw: ${String(error)}`, null, { cause: error });
      if (event === "error") console.error(failure);
      else this.events.emit("error", failure);
    });
  }

  on<E extends keyof MirrorEvents>(event: E, listener: (...args: MirrorEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  off<E extends keyof MirrorEvents>(event: E, listener: (...args: MirrorEvents[E]) => void): void {
    this.events.off(event, listener);
  }

  /** The person with user id or index `who`. */
  user(who: Uuid | number): WireUser | undefined {
    const id = typeof who === "number" ? this.usersByIndex.get(who) : who;
    return id === undefined ? undefined : this.users.get(id);
  }

  object(id: Uuid): WireObject | undefined {
    return this.objects.get(id);
  }

  /** Applies one message from the server (others than those named above are ignored). */
  apply(msg: ServerMsg): void {
    switch (msg.type) {
      case "joined":
        return this.applyJoined(msg);
      case "left":
        return this.clear();
      case "delta":
        return this.applyDelta(msg);
      case "motion":
        return this.applyMotion(msg);
      case "chat": {
        const { type: _, ...line } = msg;
        this.chat.push(line);
        if (this.chat.length > this.chatLimit) this.chat.splice(0, this.chat.length - this.chatLimit);
        this.events.emit("chat", line);
        return;
      }
      case "screen_share":
        if (msg.active) this.shares.set(msg.share.user, msg.share);
        else this.shares.delete(msg.share.user);
        this.events.emit("share", msg.share, msg.active);
        return;
      default:
        return;
    }
  }

  /** Forgets the space, with a removal event for everything in it. */
  clear(): void {
    for (const object of [...this.objects.values()]) this.removeObject(object.id, "cleared");
    for (const user of [...this.users.values()]) this.removeUser(user.user, "cleared");
    this.shares.clear();
    this.chat.length = 0;
    this.id = null;
    this.name = null;
  }

  private applyJoined(msg: MsgOf<ServerMsg, "joined">): void {
    if (this.id !== msg.space) this.clear();
    this.id = msg.space;
    this.name = msg.name;
    this.tick = msg.tick;
    // Whatever the snapshot does not hold is gone.
    const objectIds = new Set(msg.objects.map((o) => o.id));
    for (const object of [...this.objects.values()]) if (!objectIds.has(object.id)) this.removeObject(object.id, "removed");
    const userIds = new Set(msg.users.map((u) => u.user));
    for (const user of [...this.users.values()]) if (!userIds.has(user.user)) this.removeUser(user.user, "removed");
    for (const user of msg.users) this.upsertUser(user);
    for (const object of msg.objects) this.upsertObject(object, true);
    this.shares.clear();
    for (const share of msg.shares) this.shares.set(share.user, share);
    // Lines already mirrored are not told again.
    const seen = new Set(this.chat.map((line) => line.id));
    this.chat.length = 0;
    for (const line of msg.chat) {
      this.chat.push(line);
      if (!seen.has(line.id)) this.events.emit("chat", line);
    }
    if (this.chat.length > this.chatLimit) this.chat.splice(0, this.chat.length - this.chatLimit);
  }

  private applyDelta(msg: MsgOf<ServerMsg, "delta">): void {
    this.tick = Math.max(this.tick, msg.tick);
    for (const user of msg.left) this.removeUser(user, "removed");
    for (const user of msg.vanished) this.removeUser(user, "out_of_view");
    for (const id of msg.removed) this.removeObject(id, "removed");
    for (const id of msg.hidden) this.removeObject(id, "out_of_view");
    for (const user of [...msg.joined, ...msg.appeared]) this.upsertUser(user);
    for (const object of msg.objects) this.upsertObject(object, false);
    for (const move of msg.avatars) this.moveUser(move.user, move.transform);
  }

  private applyMotion(msg: MsgOf<ServerMsg, "motion">): void {
    this.tick = Math.max(this.tick, msg.tick);
    for (const move of msg.avatars) this.moveUser(move.user, move.transform);
    for (const move of msg.objects) {
      const known = this.objects.get(move.id);
      // Datagrams can come late or twice: only a newer version moves the object.
      if (!known || move.version <= known.version) continue;
      this.upsertObject({ ...known, transform: move.transform, version: move.version }, false);
    }
  }

  private upsertObject(object: WireObject, fromSnapshot: boolean): void {
    const known = this.objects.get(object.id);
    if (!known) {
      this.objects.set(object.id, object);
      this.events.emit("objectAdded", object);
      return;
    }
    // An object can come twice (a big space's slices); keep the higher version. A
    // snapshot is the truth even if older, as after a restart of the server.
    if (object.version < known.version && !fromSnapshot) return;
    if (object.version === known.version && sameTransform(object.transform, known.transform)) {
      if (object.index !== known.index) this.objects.set(object.id, { ...known, index: object.index });
      return;
    }
    this.objects.set(object.id, object);
    this.events.emit("objectChanged", object, known);
  }

  private removeObject(id: Uuid, reason: RemovalReason): void {
    const known = this.objects.get(id);
    if (!known) return;
    this.objects.delete(id);
    this.events.emit("objectRemoved", known, reason);
  }

  private upsertUser(user: WireUser): void {
    const known = this.users.get(user.user);
    const holder = this.usersByIndex.get(user.index);
    // An index is reused after someone leaves: it now names this person.
    if (holder !== undefined && holder !== user.user) this.usersByIndex.delete(user.index);
    if (known && known.index !== user.index && this.usersByIndex.get(known.index) === user.user) {
      this.usersByIndex.delete(known.index);
    }
    this.users.set(user.user, user);
    this.usersByIndex.set(user.index, user.user);
    if (!known) this.events.emit("userJoined", user);
    else if (!sameTransform(known.transform, user.transform)) this.events.emit("userMoved", user, known.transform);
  }

  private moveUser(id: Uuid, transform: Transform): void {
    const known = this.users.get(id);
    if (!known || sameTransform(known.transform, transform)) return;
    const moved = { ...known, transform };
    this.users.set(id, moved);
    this.events.emit("userMoved", moved, known.transform);
  }

  private removeUser(id: Uuid, reason: RemovalReason): void {
    const known = this.users.get(id);
    if (!known) return;
    this.users.delete(id);
    if (this.usersByIndex.get(known.index) === id) this.usersByIndex.delete(known.index);
    this.shares.delete(id);
    this.events.emit("userLeft", known, reason);
  }
}
