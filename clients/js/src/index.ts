// The public API of @plaza/client: the client, the mirror of a space, the transports, and
// the protocol's codecs for tools and tests.

export * from "./types.js";
export { DecodeError, fromHex, toHex, uuidBytes, uuidText } from "./postcard.js";
export {
  MotionDesyncError,
  ZERO_POSE,
  quantize,
  readPose,
  rotationOf,
  transformOf,
  writePose,
  type QPose,
  type QRot,
} from "./motion.js";
export { IndexTable } from "./indices.js";
export {
  decodeClient,
  decodeClientPostcard,
  decodeServer,
  encodeClient,
  encodeClientPostcard,
  encodeServer,
  encodeServerPostcard,
  readServerPostcard,
} from "./messages.js";
export { decodeClientJson, decodeServerJson, encodeClientJson, encodeServerJson, shortestF32 } from "./json.js";
export { decodeClientV1, decodeServerV1, encodeClientV1, encodeServerV1, type V1Msg } from "./v1.js";
export { Client, connect, type ClientEvents, type ConnectOptions, type ConnectionState, type MovePolicy, type ReconnectPolicy } from "./client.js";
export { SpaceMirror, type MirrorEvents, type RemovalReason } from "./mirror.js";
export { PlazaError, type ClientErrorCode } from "./events.js";
export { openLink, type KnownWebTransport, type Link, type LinkClosed, type TransportKind, type WebSocketConstructor, type WebSocketLike, type WebTransportConstructor } from "./transport.js";
export {
  chatHistory,
  createSpace,
  deleteSpace,
  getSpace,
  listModels,
  listSpaces,
  login,
  modelFileUrl,
  register,
  uploadModel,
  type Account,
  type ChatPage,
  type HttpOptions,
  type ModelInfo,
  type NewSpace,
  type SpaceInfo,
} from "./api.js";
