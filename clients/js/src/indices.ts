// What a client keeps of the space it is in to read compact motion: who each person
// index is and the last pose it has of them, which object each object index is, and the
// tick each index was announced at (a motion older than the announcement speaks of
// whoever had the index before). Mirrors net/src/mirror.rs, and applies a delta in the
// order docs/protocol.md gives: departures, removals, arrivals, objects, then avatars.

import { Reader } from "./postcard.js";
import { poseOf, readAvatarList, readObjectList, type KnownIndices, type QPose } from "./motion.js";
import type { AvatarMove, ServerMsg, Uuid, WireUser } from "./types.js";

/** The coded motion lists of a binary frame, resolved only once the table is up to date. */
export interface CodedLists {
  avatars?: Uint8Array;
  objects?: Uint8Array;
}

interface Person {
  user: Uuid;
  pose: QPose;
  sinceTick: number;
}

/** The indices of one space as this client was told them. */
export class IndexTable implements KnownIndices {
  private people = new Map<number, Person>();
  private personIndex = new Map<Uuid, number>();
  private objects = new Map<number, { id: Uuid; sinceTick: number }>();
  private objectIndex = new Map<Uuid, number>();
  /** The newest motion tick applied: an older motion (a late datagram) is stale. */
  private newestMotionTick = -1;

  person(index: number): { user: Uuid; pose: QPose } | undefined {
    return this.people.get(index);
  }

  object(index: number): Uuid | undefined {
    return this.objects.get(index)?.id;
  }

  /** Forgets the space (a `left`, or a new connection before its `joined`). */
  reset(): void {
    this.people.clear();
    this.personIndex.clear();
    this.objects.clear();
    this.objectIndex.clear();
  }

  /**
   * Takes in what `msg` says of the space and fills its motion lists from `coded` (a
   * binary frame's) or checks its plain ones (JSON). Returns false for a stale motion,
   * which the caller drops. Throws a DecodeError (a MotionDesyncError when the client's
   * picture no longer matches the server's) for motion it cannot read.
   */
  absorb(msg: ServerMsg, coded: CodedLists | null): boolean {
    switch (msg.type) {
      case "joined":
        this.reset();
        for (const user of msg.users) this.announce(user, msg.tick);
        for (const object of msg.objects) this.objectSeen(object.index, object.id, msg.tick);
        return true;
      case "left":
        this.reset();
        return true;
      case "delta": {
        for (const user of [...msg.left, ...msg.vanished]) {
          const index = this.personIndex.get(user);
          if (index === undefined) continue;
          this.personIndex.delete(user);
          this.people.delete(index);
        }
        for (const id of [...msg.removed, ...msg.hidden]) {
          const index = this.objectIndex.get(id);
          if (index === undefined) continue;
          this.objectIndex.delete(id);
          this.objects.delete(index);
        }
        for (const user of [...msg.joined, ...msg.appeared]) this.announce(user, msg.tick);
        for (const object of msg.objects) this.objectSeen(object.index, object.id, msg.tick);
        msg.avatars = this.avatars(msg.avatars, coded?.avatars, () => true);
        return true;
      }
      case "motion": {
        if (msg.tick < this.newestMotionTick) return false;
        this.newestMotionTick = msg.tick;
        // Only indices announced before this tick: else the entry may be of whoever
        // had the index before.
        const announcedBefore = (index: number) => (this.people.get(index)?.sinceTick ?? Infinity) < msg.tick;
        msg.avatars = this.avatars(msg.avatars, coded?.avatars, announcedBefore);
        const objects = coded?.objects ? readObjectList(new Reader(coded.objects), this) : msg.objects;
        msg.objects = objects.filter((o) => (this.objects.get(o.index)?.sinceTick ?? Infinity) < msg.tick);
        return true;
      }
      default:
        return true;
    }
  }

  /** Resolves an avatar list and keeps each kept entry's pose as the index's last one. */
  private avatars(plain: AvatarMove[], coded: Uint8Array | undefined, keep: (index: number) => boolean): AvatarMove[] {
    const moves = coded ? readAvatarList(new Reader(coded), this) : plain;
    const kept = moves.filter((move) => keep(move.index));
    for (const move of kept) {
      const person = this.people.get(move.index);
      if (person) person.pose = poseOf(move);
    }
    return kept;
  }

  private announce(user: WireUser, tick: number): void {
    const old = this.people.get(user.index);
    if (old && old.user !== user.user) this.personIndex.delete(old.user);
    const oldIndex = this.personIndex.get(user.user);
    if (oldIndex !== undefined && oldIndex !== user.index) this.people.delete(oldIndex);
    this.personIndex.set(user.user, user.index);
    this.people.set(user.index, { user: user.user, pose: poseOf(user), sinceTick: tick });
  }

  private objectSeen(index: number, id: Uuid, tick: number): void {
    const known = this.objects.get(index);
    // A change to a known object does not re-announce it: its index is as old as before.
    if (known && known.id === id) return;
    if (known) this.objectIndex.delete(known.id);
    const oldIndex = this.objectIndex.get(id);
    if (oldIndex !== undefined && oldIndex !== index) this.objects.delete(oldIndex);
    this.objects.set(index, { id, sinceTick: tick });
    this.objectIndex.set(id, index);
  }
}
