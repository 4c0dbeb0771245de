// The parts of Plaza's HTTP API (docs/api.md) a client needs around a connection:
// logging in or registering for a token, looking spaces up (a join by id needs the
// space's name), making and deleting spaces, models (listing, uploading a GLB), and
// paging through chat history. Errors come back as PlazaError with the server's
// `{"error": ...}` text.

import { PlazaError } from "./events.js";
import { httpBase } from "./transport.js";
import type { Uuid, WireChat } from "./types.js";

/** What `POST /api/login` and `POST /api/users` answer. */
export interface Account {
  user: Uuid;
  name: string;
  registered: boolean;
  admin: boolean;
  /** A login token, for `connect({ token })` and `Authorization: Bearer`. */
  token: string;
  expires_at: string;
}

export interface SpaceInfo {
  id: Uuid;
  name: string;
  description: string | null;
  private: boolean;
  /** Left out of the public list (a load test's, a demo's). */
  temporary: boolean;
  owner: Uuid | null;
  people_online: number;
  people: string[];
  objects: number;
  loaded: boolean;
}

export interface ChatPage {
  /** Newest first. */
  messages: WireChat[];
  /** Pass as `before` for the next page; null on the last. */
  next_before: Uuid | null;
}

/** An uploaded model's row (`POST /api/models`, `GET /api/models`). */
export interface ModelInfo {
  id: Uuid;
  name: string;
  size: number;
  content_type: string;
  owner: Uuid;
  /** What the GLB holds: generator, meshes, nodes, materials, animations, extensions_used. */
  metadata: Record<string, unknown>;
  created_at: string;
  /** Where the file is: `/api/models/{id}/file`. */
  url: string;
  /** On upload: the same bytes were stored already (this is that model). */
  deduplicated?: boolean;
}

export interface NewSpace {
  name: string;
  description?: string;
  /** Joining needs an invitation. */
  private?: boolean;
  /** Left out of the public list; guests may create only these. */
  temporary?: boolean;
}

export interface HttpOptions {
  /** The server's HTTP address, e.g. `http://127.0.0.1:8700`. */
  url: string;
  /** A login or session token, sent as `Authorization: Bearer`. */
  token?: string | null;
  fetch?: typeof fetch;
}

/** A request body: JSON, or bytes sent as they are with their content type. */
type Body = { json: unknown } | { bytes: Uint8Array | ArrayBuffer | Blob; type: string };

interface Answer<T> {
  status: number;
  body: T;
}

async function call<T>(options: HttpOptions, method: string, path: string, body?: unknown): Promise<T> {
  return (await request<T>(options, method, path, body === undefined ? undefined : { json: body })).body;
}

async function request<T>(options: HttpOptions, method: string, path: string, body?: Body): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let payload: BodyInit | undefined;
  if (body && "json" in body) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers["content-type"] = body.type;
    payload = body.bytes as BodyInit;
  }
  const fetcher = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await fetcher(new URL(path, httpBase(options.url)), {
      method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
    });
  } catch (error) {
    throw new PlazaError("unavailable", `${method} /${path} failed: ${String(error)}`, null, { cause: error });
  }
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: the status says enough.
  }
  if (!response.ok) {
    const reason = (parsed as { error?: unknown } | null)?.error;
    const code = response.status === 401 ? "unauthorized" : response.status === 403 ? "forbidden" : response.status === 404 ? "not_found" : response.status === 429 ? "rate_limited" : response.status === 413 ? "too_large" : response.status >= 500 ? "unavailable" : "bad_message";
    throw new PlazaError(code, typeof reason === "string" ? reason : `${method} /${path} answered ${response.status}`, null, { status: response.status });
  }
  return { status: response.status, body: parsed as T };
}

/** Logs in: the account, with a new login token. */
export function login(options: HttpOptions, name: string, password: string): Promise<Account> {
  return call(options, "POST", "api/login", { name, password });
}

/**
 * Registers `name`. A guest name is claimed only by its guest: pass its `guestSecret`
 * (from its first welcome) or connect with its session token as `options.token`.
 */
export function register(options: HttpOptions, name: string, password: string, guestSecret?: string | null): Promise<Account> {
  return call(options, "POST", "api/users", { name, password, guest_secret: guestSecret ?? null });
}

/** Public spaces, by name. */
export async function listSpaces(options: HttpOptions, limit = 100): Promise<SpaceInfo[]> {
  return (await call<{ spaces: SpaceInfo[] }>(options, "GET", `api/spaces?limit=${limit}`)).spaces;
}

/** One space (a private one only for a bearer who may enter it). */
export function getSpace(options: HttpOptions, id: Uuid): Promise<SpaceInfo> {
  return call(options, "GET", `api/spaces/${encodeURIComponent(id)}`);
}

/** A page of a space's chat, newest first, strictly before `before` (a line id or time). */
export function chatHistory(options: HttpOptions, space: Uuid, before?: string | null, limit = 50): Promise<ChatPage> {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", before);
  return call(options, "GET", `api/spaces/${encodeURIComponent(space)}/chat?${query}`);
}

/**
 * Creates a space owned by the token's user (`options.token`: a login token, or a guest's
 * session token for a temporary space).
 */
export function createSpace(options: HttpOptions, space: NewSpace): Promise<SpaceInfo> {
  return call(options, "POST", "api/spaces", space);
}

/**
 * Deletes a space (its owner, or a server admin): everyone in it is taken out, and its
 * objects and chat go with it. Resolves `"deleted"` once the store has done so, or
 * `"deleting"` when the store has not confirmed within the server's wait (it completes
 * later).
 */
export async function deleteSpace(options: HttpOptions, space: Uuid | string): Promise<"deleted" | "deleting"> {
  const answer = await request(options, "DELETE", `api/spaces/${encodeURIComponent(space)}`);
  return answer.status === 202 ? "deleting" : "deleted";
}

/** The models a space's objects use (`space`: id or name), or without it your own uploads. */
export async function listModels(options: HttpOptions, space?: Uuid | string, limit = 100): Promise<ModelInfo[]> {
  const query = new URLSearchParams({ limit: String(limit) });
  if (space) query.set("space", space);
  return (await call<{ models: ModelInfo[] }>(options, "GET", `api/models?${query}`)).models;
}

/**
 * Uploads a GLB (glTF 2.0 binary) as `name`; needs `options.token`. The row of the model,
 * whose `id` goes in an object's `model`. The same bytes again give the stored model.
 */
export async function uploadModel(options: HttpOptions, name: string, glb: Uint8Array | ArrayBuffer | Blob): Promise<ModelInfo> {
  const query = new URLSearchParams({ name });
  const answer = await request<ModelInfo>(options, "POST", `api/models?${query}`, { bytes: glb, type: "model/gltf-binary" });
  return answer.body;
}

/** Where an uploaded model's file is, for a loader (GLTFLoader) to fetch. */
export function modelFileUrl(options: Pick<HttpOptions, "url">, id: Uuid): string {
  return new URL(`api/models/${encodeURIComponent(id)}/file`, httpBase(options.url)).toString();
}
