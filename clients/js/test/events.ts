// Waiting for a client's events in tests, shared by the fake-server and live tests.

import type { Client, ClientEvents } from "../src/index.js";

/**
 * The next `event` of `client` for which `accept` holds. After `timeoutMs` it fails with
 * the event, the client's state and URL, and `what` (naming the step) when given.
 */
export function nextEvent<E extends keyof ClientEvents>(
  client: Client,
  event: E,
  accept: (...args: ClientEvents[E]) => boolean = () => true,
  timeoutMs = 3000,
  what = "",
): Promise<ClientEvents[E]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      const step = what ? `${what}: ` : "";
      reject(new Error(`${step}no ${String(event)} event within ${timeoutMs} ms (client state ${client.state}, url ${client.url})`));
    }, timeoutMs);
    const off = client.on(event, (...args) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
}

/** Lets `ms` pass, for what the client does on its own timers. */
export const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));
