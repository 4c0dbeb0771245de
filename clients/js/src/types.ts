// The messages of Plaza protocol version 2 as TypeScript types: one union per direction,
// field names exactly as in the JSON form (docs/protocol.md, "Messages"). Both codecs
// decode into these shapes, so code that handles a message does not care how it came.
//
// Optional fields are `field?: T | null` so that messages are easy to write by hand;
// every message a decoder hands out has all of its fields, `null` where absent.

/** A UUID in its canonical text form (lowercase, hyphenated). */
export type Uuid = string;

export type Vec3 = [number, number, number];
/** A unit quaternion `[x, y, z, w]`, scalar last. */
export type Quat = [number, number, number, number];

/** Position in metres (+Y up), rotation and scale; on the wire each number is an f32. */
export interface Transform {
  pos: Vec3;
  rot: Quat;
  scale: Vec3;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** An object's free-form properties: always a JSON object. */
export type Props = { [key: string]: JsonValue };

/** How frames are encoded: postcard in binary frames, or JSON in text frames. */
export type Codec = "postcard" | "json";
/** Codec numbers in postcard. */
export const CODECS: readonly Codec[] = ["postcard", "json"];

/** Why the server refused something. Numbered in postcard by their place here. */
export const ERROR_CODES = [
  "bad_message",
  "protocol_mismatch",
  "not_joined",
  "not_found",
  "too_large",
  "forbidden",
  "rate_limited",
  "unavailable",
  "unauthorized",
  "disabled",
  "full",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** What a screen share shows. Numbered in postcard by their place here. */
export const SHARE_KINDS = ["screen", "window", "tab", "camera"] as const;
export type ShareKind = (typeof SHARE_KINDS)[number];

/** A world object. `version` rises on every change: keep the highest seen. */
export interface WireObject {
  id: Uuid;
  /** Its small number in the space, by which compact motion names it. */
  index: number;
  model: string;
  transform: Transform;
  props: Props;
  owner: Uuid;
  version: number;
}

/** A person present in a space; `transform` is their avatar's quantised pose. */
export interface WireUser {
  user: Uuid;
  index: number;
  name: string;
  transform: Transform;
}

export interface WireChat {
  /** UUIDv7: chat ids sort by time. */
  id: Uuid;
  from: Uuid;
  name: string;
  text: string;
  /** RFC 3339, UTC, milliseconds. */
  at: string;
}

export interface WireShare {
  user: Uuid;
  name: string;
  kind: ShareKind;
}

/** An avatar that moved (binary carries only the index; the user comes from what the client knows). */
export interface AvatarMove {
  index: number;
  user: Uuid;
  transform: Transform;
}

/** An object whose only change was its transform. */
export interface ObjectMove {
  index: number;
  id: Uuid;
  transform: Transform;
  version: number;
}

export type ClientMsg =
  | {
      type: "hello";
      /** The newest version the client speaks; the hello itself is written in it. */
      protocol: number;
      name: string;
      token?: string | null;
      visitor?: string | null;
      secret?: string | null;
      /** Every version the client speaks (empty: just `protocol`). */
      versions?: number[];
      /** The codec wanted from the welcome on (absent: the hello's). */
      codec?: Codec | null;
      resume?: string | null;
    }
  | { type: "join"; space: string; ref?: number | null }
  | { type: "leave" }
  | { type: "spawn"; ref: number; model: string; transform: Transform; props?: Props }
  | { type: "move"; id: Uuid; transform: Transform; ref?: number | null }
  | { type: "set_props"; id: Uuid; props: Props; ref?: number | null }
  | { type: "despawn"; id: Uuid; ref?: number | null }
  | { type: "pose"; transform: Transform }
  | { type: "chat"; text: string; ref?: number | null }
  | { type: "ping"; t: number }
  | { type: "screen_share_start"; kind?: ShareKind; ref?: number | null }
  | { type: "screen_share_stop" }
  | { type: "signal"; to: Uuid; data: string; ref?: number | null };

export type ServerMsg =
  | {
      type: "welcome";
      session: Uuid;
      user: Uuid;
      protocol: number;
      codec: Codec;
      tick_rate: number;
      name: string;
      registered: boolean;
      /** Bearer token for HTTP while this session lasts. Keep it secret. */
      token: string;
      /** Only on a guest name's first hello: keep it and send it as `secret` from then on. */
      guest_secret: string | null;
      /** Takes the session back on a new connection within `resume_grace_secs`. */
      resume: string | null;
      resume_grace_secs: number;
      resumed: boolean;
    }
  | {
      type: "joined";
      space: Uuid;
      name: string;
      tick: number;
      objects: WireObject[];
      users: WireUser[];
      chat: WireChat[];
      shares: WireShare[];
    }
  | { type: "left"; space: Uuid }
  | { type: "spawned"; ref: number; id: Uuid }
  | ({ type: "chat" } & WireChat)
  | { type: "pong"; t: number; tick: number }
  | {
      type: "delta";
      tick: number;
      objects: WireObject[];
      removed: Uuid[];
      avatars: AvatarMove[];
      joined: WireUser[];
      left: Uuid[];
      appeared: WireUser[];
      vanished: Uuid[];
      hidden: Uuid[];
    }
  | { type: "error"; code: ErrorCode; message: string; ref: number | null }
  | { type: "screen_share"; share: WireShare; active: boolean }
  | { type: "signal"; from: Uuid; data: string }
  | { type: "motion"; tick: number; avatars: AvatarMove[]; objects: ObjectMove[] }
  | {
      /**
       * The space joined (or the one the client was in) is simulated by another node of
       * the cluster: connect there with the same credentials and join it there. The
       * client is no longer in any space on this node. `Client` follows it by itself.
       */
      type: "moved";
      /** The space's name, to join on that node. */
      space: string;
      /** The node's id. */
      node: string;
      /** Its HTTP base URL (`http://host:port`); its WebSocket is at `{http_url}/ws`. */
      http_url: string;
      /** Its QUIC port on the same host (0: off). A u16. */
      quic_port: number;
      /** Its WebTransport port on the same host, path `/wt` (0: off). A u16. */
      webtransport_port: number;
      /** Hex SHA-256 of the certificate its QUIC and WebTransport present. */
      cert_sha256: string;
    }
  | {
      /**
       * The space joined is full: the client waits in its line (and stays in the space it
       * was in, if any). Sent again when the place changes, about once a second at most;
       * `joined` follows when it is let in. `leave` gives the place up.
       */
      type: "queued";
      /** The space's name. */
      space: string;
      /** Place in line: 1 is next in. A u32. */
      position: number;
    };

/** The message of a union with a given `type`. */
export type MsgOf<M extends { type: string }, T extends M["type"]> = Extract<M, { type: T }>;

/** Client message types by postcard variant number. */
export const CLIENT_TYPES = [
  "hello",
  "join",
  "leave",
  "spawn",
  "move",
  "set_props",
  "despawn",
  "pose",
  "chat",
  "ping",
  "screen_share_start",
  "screen_share_stop",
  "signal",
] as const satisfies readonly ClientMsg["type"][];

/** Server message types by postcard variant number. */
export const SERVER_TYPES = [
  "welcome",
  "joined",
  "left",
  "spawned",
  "chat",
  "pong",
  "delta",
  "error",
  "screen_share",
  "signal",
  "motion",
  "moved",
  "queued",
] as const satisfies readonly ServerMsg["type"][];

/** The protocol version this SDK speaks. */
export const PROTOCOL_VERSION = 2;

/** The identity transform: at the origin, unrotated, natural size. */
export function identity(): Transform {
  return { pos: [0, 0, 0], rot: [0, 0, 0, 1], scale: [1, 1, 1] };
}

/** A transform at `pos`, unrotated, natural size. */
export function at(pos: Vec3): Transform {
  return { pos: [...pos], rot: [0, 0, 0, 1], scale: [1, 1, 1] };
}

/** The quaternion of a turn of `radians` about +Y (it turns +Z towards +X). */
export function yaw(radians: number): Quat {
  return [0, Math.sin(radians / 2), 0, Math.cos(radians / 2)];
}
