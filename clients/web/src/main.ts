// The page's entry: the start screen (or `?space=NAME&name=NAME` straight in), connecting
// with the SDK, joining, and tying the mirror's events to the scene, the controls, the
// build tools, chat, people and screen sharing; plus `window.plaza`, the hook tests read.

import { Vector3 } from "three";
import { connect, type Client } from "../../js/src/index.ts";
import { Avatars, yawOf } from "./avatars.ts";
import { Build } from "./build.ts";
import { Chat } from "./chat.ts";
import { Controls } from "./controls.ts";
import { Objects } from "./objects.ts";
import { Stage } from "./scene.ts";
import { Sharing } from "./share.ts";
import { $, describe, guestSecretKey, renderPeople, setStatus, startScreen, toast, toastLog, type Identity } from "./ui.ts";

declare global {
  interface Window {
    plaza?: unknown;
  }
}

async function enter(identity: Identity, spaceName: string, transport: "auto" | "websocket" | "webtransport"): Promise<void> {
  setStatus(`connecting as ${identity.name}…`);
  $("hud").classList.remove("hidden");
  const url = location.origin;
  const client: Client = await connect(
    identity.token
      ? { url, token: identity.token, transport }
      : { url, name: identity.name, secret: localStorage.getItem(guestSecretKey(identity.name)), transport },
  );
  if (client.guestSecret) localStorage.setItem(guestSecretKey(identity.name), client.guestSecret);
  try {
    await client.join(spaceName);
  } catch (error) {
    client.close();
    throw error;
  }

  // In the space: build the scene from the mirror, then follow its events (none can come
  // in between: the join resolved in a microtask of the message that filled the mirror).
  const canvas = $<HTMLCanvasElement>("view");
  const quality = new URLSearchParams(location.search).get("quality");
  const stage = new Stage(canvas, quality === "low" || quality === "high" ? quality : "auto");
  const avatars = new Avatars(stage.scene);
  const objects = new Objects(stage.scene);
  const controls = new Controls(canvas, stage.camera, client);
  const build = new Build(client, objects, controls, stage.camera, canvas);
  const chat = new Chat(client);
  const sharing = new Sharing(client, stage.scene, avatars, stage.camera);

  const people = () => renderPeople(client.space.users.values(), client.user);
  client.on("userJoined", (user) => {
    avatars.upsert(user);
    people();
  });
  client.on("userLeft", (user) => {
    avatars.remove(user.user);
    people();
  });
  client.on("userMoved", (user) => avatars.upsert(user));
  client.on("objectAdded", (object) => objects.add(object));
  client.on("objectChanged", (object) => objects.change(object));
  client.on("objectRemoved", (object) => objects.remove(object.id));
  const joined = (space: typeof client.space) => {
    avatars.self = client.user;
    const me = client.user ? space.users.get(client.user) : undefined;
    if (me) controls.place(me.transform.pos, yawOf(me.transform.rot));
    setStatus(`${client.name} in ${space.name} · ${client.transport}`);
    people();
    void chat.entered(space.id!);
    sharing.entered();
  };
  client.on("joined", joined);
  client.on("error", (error) => toast(describe(error, error.code === "forbidden" ? "change this object" : "server")));
  client.on("reconnecting", ({ attempt }) => setStatus(`reconnecting (attempt ${attempt})…`));
  client.on("reconnected", ({ transport: kind }) => setStatus(`${client.name} in ${client.space.name} · ${kind}`));
  // The space is on another node of the cluster: the SDK follows (joined comes next), or
  // says in an error why not.
  client.on("moved", (moved, following) => setStatus(following ? `moving to node ${moved.node}…` : `${moved.space} is on node ${moved.node}: not followed`));
  client.on("queued", (space, position) => setStatus(`${space} is full: you are number ${position} in line`));
  client.on("closed", ({ reason }) => {
    setStatus(`disconnected${reason ? `: ${reason}` : ""}`);
    toast(`disconnected${reason ? `: ${reason}` : ""}`);
  });

  avatars.self = client.user;
  stage.onFrame((dt, now) => {
    controls.update(dt, now);
    const self = client.user ? avatars.byUser.get(client.user) : undefined;
    self?.place(controls.x, controls.y, controls.z, controls.yaw);
    avatars.update(dt, stage.camera);
    objects.update(dt);
    sharing.update();
  });

  window.plaza = {
    client,
    stage,
    avatars,
    objects,
    controls,
    build,
    chat,
    sharing,
    toasts: toastLog,
    /** What the scene shows. */
    get stats() {
      const counts = objects.counts();
      return {
        avatars: avatars.byUser.size,
        labels: avatars.labelsShown,
        nearFigures: avatars.nearShown,
        objects: counts.objects,
        models: counts.models,
        loadingModels: counts.loading,
        failedModels: counts.failed,
        videos: sharing.playing(),
        frames: stage.stats.deltas.length,
        posesSent: controls.posesSent,
      };
    },
    /** rAF deltas and per-frame work (update + render), ms. */
    frameTimes: stage.stats,
    quality: stage.quality,
    /** The figures as drawn: where each one is now. */
    avatarPositions() {
      return [...avatars.byUser.values()].map((a) => ({ user: a.user, name: a.name, pos: [a.position.x, a.position.y, a.position.z] }));
    },
    objectList() {
      return [...objects.byId.values()].map((o) => ({ id: o.wire.id, model: o.wire.model, owner: o.wire.owner, loaded: o.loaded, pos: [o.root.position.x, o.root.position.y, o.root.position.z] }));
    },
    /** Where a point of the world is on the page (CSS pixels), and whether it is in view. */
    screenPoint(x: number, y: number, z: number) {
      const v = new Vector3(x, y, z).project(stage.camera);
      const rect = canvas.getBoundingClientRect();
      return { x: rect.left + ((v.x + 1) / 2) * rect.width, y: rect.top + ((1 - v.y) / 2) * rect.height, inView: Math.abs(v.x) < 1 && Math.abs(v.y) < 1 && v.z < 1 };
    },
    chatLines() {
      return chat.shown.map((line) => `${line.name}: ${line.text}`);
    },
    ready: false,
  };

  for (const user of client.space.users.values()) avatars.upsert(user);
  for (const object of client.space.objects.values()) objects.add(object);
  joined(client.space);
  stage.start();
  canvas.focus();
  (window.plaza as { ready: boolean }).ready = true;
  const params = new URLSearchParams(location.search);
  if (params.get("share") === "canvas") await sharing.start("canvas");
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const transport = (["websocket", "webtransport"].includes(params.get("transport") ?? "") ? params.get("transport") : "auto") as "auto" | "websocket" | "webtransport";
  const space = params.get("space");
  const name = params.get("name");
  if (space && name) {
    $("start").classList.add("hidden");
    try {
      await enter({ name, token: null }, space, transport);
    } catch (error) {
      failed(error, space);
    }
    return;
  }
  if (space) $<HTMLInputElement>("space-name").value = space;
  for (;;) {
    const choice = await startScreen(location.origin);
    history.replaceState(null, "", `?space=${encodeURIComponent(choice.space)}`);
    try {
      await enter(choice.identity, choice.space, transport);
      return;
    } catch (error) {
      failed(error, choice.space);
    }
  }
}

function failed(error: unknown, space: string): void {
  setStatus("could not enter");
  (window as { plazaError?: string }).plazaError = String(error);
  $("hud").classList.add("hidden");
  $("start").classList.remove("hidden");
  $("start-error").textContent = describe(error, `enter ${space}`);
}

void main();
