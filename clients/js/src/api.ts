// The parts of Plaza's HTTP API (docs/api.md) a client needs around a connection:
// logging in or registering for a token, looking spaces up (a join by id needs the
// space's name), and paging through chat history. Errors come back as PlazaError with
// the server's `{"error": ...}` text.

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

export interface HttpOptions {
  /** The server's HTTP address, e.g. `http://127.0.0.1:8700`. */
  url: string;
  /** A login or session token, sent as `Authorization: Bearer`. */
  token?: string | null;
  fetch?: typeof fetch;
}

async function call<T>(options: HttpOptions, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const fetcher = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await fetcher(new URL(path, httpBase(options.url)), {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
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
    const code = response.status === 401 ? "unauthorized" : response.status === 403 ? "forbidden" : response.status === 404 ? "not_found" : response.status === 429 ? "rate_limited" : response.status >= 500 ? "unavailable" : "bad_message";
    throw new PlazaError(code, typeof reason === "string" ? reason : `${method} /${path} answered ${response.status}`);
  }
  return parsed as T;
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
