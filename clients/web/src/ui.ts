// The page's plain-DOM parts around the 3D view: the start screen (name, log in or
// register, the public spaces), toasts for errors, the status line and the people list.

import { listSpaces, login, register, PlazaError, type SpaceInfo, type WireUser } from "../../js/src/index.ts";
import { cssColorOf } from "./avatars.ts";

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
};

/** Every toast shown, newest last (the test hook reads it). */
export const toastLog: string[] = [];
let lastToast = { text: "", at: 0 };

export function toast(text: string, kind: "error" | "info" = "error"): void {
  const now = performance.now();
  toastLog.push(text);
  if (text === lastToast.text && now - lastToast.at < 1500) return;
  lastToast = { text, at: now };
  const element = document.createElement("div");
  element.className = kind === "error" ? "toast" : "toast info";
  element.textContent = text;
  $("toasts").append(element);
  setTimeout(() => element.remove(), kind === "error" ? 6000 : 3500);
}

/** What a refusal means to the person who caused it. */
export function describe(error: unknown, action: string): string {
  if (error instanceof PlazaError) {
    switch (error.code) {
      case "forbidden":
        return action.includes("object") ? "you don't own this object" : `not allowed: ${error.message}`;
      case "not_found":
        return `${action}: not found (${error.message})`;
      case "rate_limited":
        return `${action}: slow down (${error.message})`;
      case "too_large":
        return `${action}: too large (${error.message})`;
      case "disconnected":
      case "closed":
        return `${action}: the connection dropped; try again`;
      default:
        return `${action}: ${error.code}: ${error.message}`;
    }
  }
  return `${action}: ${error instanceof Error ? error.message : String(error)}`;
}

export function setStatus(text: string): void {
  $("status").textContent = text;
}

export function renderPeople(users: Iterable<WireUser>, self: string | null): void {
  const list = $("people-list");
  const sorted = [...users].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(
    ...sorted.map((user) => {
      const item = document.createElement("li");
      const dot = document.createElement("i");
      dot.style.background = cssColorOf(user.user);
      item.append(dot, document.createTextNode(user.user === self ? `${user.name} (you)` : user.name));
      item.dataset.user = user.user;
      return item;
    }),
  );
  $("people").querySelector("h2")!.textContent = `People (${sorted.length})`;
}

/** Who enters: a guest (with its secret kept per name) or a registered user's login token. */
export type Identity = { name: string; token: string | null };

const LOGIN_KEY = "plaza.login";

export function guestSecretKey(name: string): string {
  return `plaza.secret.${name}`;
}

/**
 * The start screen: resolves with who enters which space. A remembered login is offered
 * again; the public spaces are listed with the people in them.
 */
export function startScreen(url: string): Promise<{ identity: Identity; space: string }> {
  const screen = $("start");
  screen.classList.remove("hidden");
  const nameInput = $<HTMLInputElement>("name");
  const password = $<HTMLInputElement>("password");
  const error = $("start-error");
  const who = $("who");
  let account: Identity | null = null;
  try {
    const saved = JSON.parse(localStorage.getItem(LOGIN_KEY) ?? "null") as Identity | null;
    if (saved?.token && saved.name) account = saved;
  } catch {
    // nothing remembered
  }
  nameInput.value = account?.name ?? localStorage.getItem("plaza.name") ?? "";
  const showWho = () => {
    who.textContent = account ? `logged in as ${account.name}` : "entering as a guest (your name is kept in this browser)";
    if (account) {
      const out = document.createElement("button");
      out.type = "button";
      out.textContent = "log out";
      out.style.marginLeft = "8px";
      out.onclick = () => {
        account = null;
        localStorage.removeItem(LOGIN_KEY);
        showWho();
      };
      who.append(out);
    }
  };
  showWho();

  const spaces = $("spaces");
  listSpaces({ url })
    .then((found: SpaceInfo[]) => {
      if (!found.length) {
        spaces.innerHTML = `<li class="empty">no public spaces yet: name one below</li>`;
        return;
      }
      spaces.replaceChildren(
        ...found.map((space) => {
          const item = document.createElement("li");
          const name = document.createElement("span");
          name.textContent = space.name;
          const online = document.createElement("small");
          online.textContent = `${space.people_online} online · ${space.objects} objects`;
          item.append(name, online);
          item.dataset.space = space.name;
          return item;
        }),
      );
    })
    .catch((e: unknown) => {
      spaces.innerHTML = "";
      const item = document.createElement("li");
      item.className = "empty";
      item.textContent = `could not list spaces: ${e instanceof Error ? e.message : String(e)}`;
      spaces.append(item);
    });

  return new Promise((resolve) => {
    const enter = (space: string) => {
      error.textContent = "";
      const name = nameInput.value.trim();
      if (!space.trim()) return void (error.textContent = "name a space");
      if (account) return finish({ identity: account, space: space.trim() });
      if (!name) return void (error.textContent = "pick a name first");
      finish({ identity: { name, token: null }, space: space.trim() });
    };
    const finish = (choice: { identity: Identity; space: string }) => {
      localStorage.setItem("plaza.name", choice.identity.name);
      screen.classList.add("hidden");
      resolve(choice);
    };
    const account_ = async (kind: "login" | "register") => {
      error.textContent = "";
      const name = nameInput.value.trim();
      if (!name || !password.value) return void (error.textContent = "a name and a password, please");
      try {
        const result =
          kind === "login"
            ? await login({ url }, name, password.value)
            : await register({ url }, name, password.value, localStorage.getItem(guestSecretKey(name)));
        account = { name: result.name, token: result.token };
        localStorage.setItem(LOGIN_KEY, JSON.stringify(account));
        password.value = "";
        showWho();
      } catch (e) {
        error.textContent = e instanceof Error ? e.message : String(e);
      }
    };
    $("log-in").onclick = () => void account_("login");
    $("register").onclick = () => void account_("register");
    $("as-guest").onclick = () => {
      account = null;
      enter($<HTMLInputElement>("space-name").value);
    };
    $("guest-form").onsubmit = (event) => {
      event.preventDefault();
      enter($<HTMLInputElement>("space-name").value);
    };
    $("space-form").onsubmit = (event) => {
      event.preventDefault();
      enter($<HTMLInputElement>("space-name").value);
    };
    spaces.onclick = (event) => {
      const item = (event.target as HTMLElement).closest("li");
      if (item?.dataset.space) enter(item.dataset.space);
    };
  });
}
