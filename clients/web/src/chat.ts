// The chat panel: recent history from GET /api/spaces/{id}/chat on entering, older pages
// when scrolled to the top (`before=next_before`), live lines from the mirror, sending
// with Enter. Lines are kept in id order (UUIDv7: time order) without duplicates.

import { chatHistory, type Client, type WireChat } from "../../js/src/index.ts";
import { $, describe, toast } from "./ui.ts";

export class Chat {
  private readonly log = $("chat-log");
  private readonly input = $<HTMLInputElement>("chat-input");
  private readonly lines: WireChat[] = [];
  private readonly seen = new Set<string>();
  private nextBefore: string | null = null;
  private loading = false;
  private spaceId: string | null = null;

  constructor(private readonly client: Client) {
    client.on("chat", (line) => this.add(line, true));
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        const text = this.input.value.trim();
        if (!text) return;
        this.input.value = "";
        client.say(text).catch((error: unknown) => toast(describe(error, "chat")));
      } else if (event.key === "Escape") {
        this.input.blur();
      }
    });
    window.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && document.activeElement !== this.input && !(event.target instanceof HTMLInputElement)) {
        event.preventDefault();
        this.input.focus();
      }
    });
    this.log.addEventListener("scroll", () => {
      if (this.log.scrollTop < 24) void this.older();
    });
  }

  /** Lines shown, oldest first (the test hook reads them). */
  get shown(): readonly WireChat[] {
    return this.lines;
  }

  /** On entering a space: the newest page of its history, then the mirror's lines. */
  async entered(spaceId: string): Promise<void> {
    if (this.spaceId !== spaceId) {
      this.spaceId = spaceId;
      this.lines.length = 0;
      this.seen.clear();
      this.log.replaceChildren();
      this.nextBefore = null;
    }
    for (const line of this.client.space.chat) this.add(line, true);
    try {
      const page = await chatHistory(this.http(), spaceId, null, 50);
      if (this.spaceId !== spaceId) return;
      for (const line of page.messages) this.add(line, false);
      this.nextBefore = page.next_before;
      this.updateMore();
      this.log.scrollTop = this.log.scrollHeight;
    } catch (error) {
      toast(describe(error, "chat history"));
    }
  }

  private http() {
    return { url: location.origin, token: this.client.sessionToken };
  }

  /** The page before the oldest shown, keeping the view where it was. */
  private async older(): Promise<void> {
    if (this.loading || !this.nextBefore || !this.spaceId) return;
    this.loading = true;
    const spaceId = this.spaceId;
    try {
      const page = await chatHistory(this.http(), spaceId, this.nextBefore, 50);
      if (this.spaceId !== spaceId) return;
      const height = this.log.scrollHeight;
      for (const line of page.messages) this.add(line, false);
      this.nextBefore = page.next_before;
      this.updateMore();
      this.log.scrollTop += this.log.scrollHeight - height;
    } catch (error) {
      toast(describe(error, "older chat"));
    } finally {
      this.loading = false;
    }
  }

  private updateMore(): void {
    let more = this.log.querySelector<HTMLElement>(".more");
    if (!more) {
      more = document.createElement("p");
      more.className = "more";
      this.log.prepend(more);
    }
    more.textContent = this.nextBefore ? "scroll up for older lines" : "the start of this space's chat";
  }

  private add(line: WireChat, live: boolean): void {
    if (this.seen.has(line.id)) return;
    this.seen.add(line.id);
    const element = document.createElement("p");
    element.dataset.id = line.id;
    const when = document.createElement("span");
    when.className = "when";
    const at = new Date(line.at);
    when.textContent = Number.isNaN(at.getTime()) ? "" : at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const name = document.createElement("b");
    name.textContent = line.name;
    element.append(when, name, document.createTextNode(`: ${line.text}`));
    // Keep id order: most lines come last, history pages come first.
    let index = this.lines.length;
    while (index > 0 && this.lines[index - 1]!.id > line.id) index -= 1;
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    const before = this.lines[index];
    this.lines.splice(index, 0, line);
    const anchor = before ? this.log.querySelector(`[data-id="${before.id}"]`) : null;
    if (anchor) this.log.insertBefore(element, anchor);
    else this.log.append(element);
    if (live && atBottom) this.log.scrollTop = this.log.scrollHeight;
  }
}
