// Building: the toolbar places a primitive in front of you, a click selects an object, a
// drag moves it over the ground (client.move, 10 a second, and once where it lands),
// Delete removes it; a .glb dropped on the page (or picked with the Upload button) is
// uploaded (POST /api/models with one's session token) and placed. Refusals become toasts.

import * as THREE from "three";
import { uploadModel, yaw, type Client, type ModelInfo } from "../../js/src/index.ts";
import type { Controls, PointerClaim } from "./controls.ts";
import type { Objects, SceneObject } from "./objects.ts";
import { $, describe, toast } from "./ui.ts";

const MOVE_INTERVAL_MS = 100;

export class Build {
  private readonly groundPlane = new THREE.Plane(new THREE.Vector3(0, 1, 0), 0);
  private readonly raycaster = new THREE.Raycaster();
  private readonly hit = new THREE.Vector3();
  private readonly ndc = new THREE.Vector2();
  /** Uploads done: model ids, for tests. */
  readonly uploaded: string[] = [];
  private placed = 0;
  private selectWhenSeen: string | null = null;

  constructor(
    private readonly client: Client,
    private readonly objects: Objects,
    private readonly controls: Controls,
    private readonly camera: THREE.Camera,
    private readonly canvas: HTMLCanvasElement,
  ) {
    for (const button of document.querySelectorAll<HTMLButtonElement>("[data-spawn]")) {
      button.addEventListener("click", () => void this.place(button.dataset.spawn!));
    }
    $("delete").addEventListener("click", () => void this.removeSelected());
    window.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement) return;
      if (event.key === "Delete" || event.key === "Backspace") {
        event.preventDefault();
        void this.removeSelected();
      } else if (event.key === "Escape") {
        this.select(null);
      }
    });
    client.on("objectAdded", (added) => {
      if (added.id !== this.selectWhenSeen) return;
      this.selectWhenSeen = null;
      // After every listener: the scene takes the object in its own objectAdded listener.
      queueMicrotask(() => {
        const object = this.objects.byId.get(added.id);
        if (object) this.select(object);
      });
    });
    controls.claim = (event, ndc) => this.grab(event, ndc);
    controls.onEmptyClick = () => this.select(null);
    this.dropping();
  }

  private select(object: SceneObject | null): void {
    this.objects.select(object);
    $<HTMLButtonElement>("delete").disabled = object === null;
  }

  /** Places a primitive (or an uploaded model) about 4 m in front of you. */
  async place(model: string, props: Record<string, string> = {}): Promise<string | null> {
    // A little to the side each time, so that several placed in a row do not overlap.
    this.placed += 1;
    const side = ((this.placed % 5) - 2) * 0.7;
    const [ax, , az] = this.controls.ahead(4);
    const x = ax - Math.cos(this.controls.yaw) * side;
    const z = az + Math.sin(this.controls.yaw) * side;
    const primitive = !/^[0-9a-f-]{36}$/.test(model);
    const color = $<HTMLInputElement>("color").value;
    try {
      const id = await this.client.spawn({
        model,
        transform: { pos: [x, primitive ? 0.5 : 0, z], rot: yaw(this.controls.yaw) },
        props: primitive ? { color, ...props } : props,
      });
      // Select it: now if the space shows it already, else when it does.
      const object = this.objects.byId.get(id);
      if (object) this.select(object);
      else this.selectWhenSeen = id;
      return id;
    } catch (error) {
      toast(describe(error, `place a ${primitive ? model : "model"}`));
      return null;
    }
  }

  async removeSelected(): Promise<void> {
    const object = this.objects.selected;
    if (!object) return;
    try {
      await this.client.despawn(object.wire.id);
    } catch (error) {
      toast(describe(error, "remove this object"));
    }
  }

  private groundAt(event: PointerEvent): THREE.Vector3 | null {
    const rect = this.canvas.getBoundingClientRect();
    this.ndc.set(((event.clientX - rect.left) / rect.width) * 2 - 1, -((event.clientY - rect.top) / rect.height) * 2 + 1);
    this.raycaster.setFromCamera(this.ndc, this.camera);
    return this.raycaster.ray.intersectPlane(this.groundPlane, this.hit);
  }

  /** A pointer-down on an object selects it and takes the drag to move it. */
  private grab(event: PointerEvent, ndc: THREE.Vector2): PointerClaim | null {
    const object = this.objects.pick(ndc, this.camera);
    if (!object) return null;
    this.select(object);
    const start = this.groundAt(event);
    const offset = start ? new THREE.Vector3().subVectors(object.root.position, start) : new THREE.Vector3();
    let lastSent = 0;
    let failed = false;
    const send = () => {
      const p = object.root.position;
      const t = object.wire.transform;
      this.client
        .move(object.wire.id, { pos: [p.x, p.y, p.z], rot: t.rot, scale: t.scale })
        .catch((error: unknown) => {
          failed = true;
          object.held = false;
          object.setTarget(object.wire.transform);
          toast(describe(error, "move this object"));
        });
    };
    return {
      move: (moveEvent) => {
        if (failed) return;
        const at = this.groundAt(moveEvent);
        if (!at) return;
        object.held = true;
        object.root.position.set(at.x + offset.x, object.root.position.y, at.z + offset.z);
        const now = performance.now();
        if (now - lastSent >= MOVE_INTERVAL_MS) {
          lastSent = now;
          send();
        }
      },
      end: (_event, moved) => {
        if (!moved || failed) return;
        send();
        object.target.copy(object.root.position);
        object.held = false;
      },
    };
  }

  /** Drag and drop of .glb files, and the Upload button's file picker: the same path. */
  private dropping(): void {
    const overlay = $("drop");
    let depth = 0;
    window.addEventListener("dragenter", (event) => {
      if (!event.dataTransfer?.types.includes("Files")) return;
      depth += 1;
      overlay.classList.remove("hidden");
    });
    window.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) overlay.classList.add("hidden");
    });
    window.addEventListener("dragover", (event) => {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    });
    window.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      overlay.classList.add("hidden");
      const files = [...(event.dataTransfer?.files ?? [])];
      if (!files.length) return;
      for (const file of files) void this.upload(file);
    });
    const picker = $<HTMLInputElement>("upload-file");
    $("upload").addEventListener("click", () => picker.click());
    picker.addEventListener("change", () => {
      for (const file of picker.files ?? []) void this.upload(file);
      picker.value = "";
    });
  }

  /** Uploads a GLB with one's session token, then places it in front of you. */
  async upload(file: File): Promise<string | null> {
    if (!/\.glb$/i.test(file.name)) {
      toast(`${file.name}: only binary glTF (.glb) files can be uploaded`);
      return null;
    }
    const token = this.client.sessionToken;
    if (!token) {
      toast("not connected yet: try again in a moment");
      return null;
    }
    let model: ModelInfo;
    try {
      model = await uploadModel({ url: location.origin, token }, file.name.replace(/\.glb$/i, ""), file);
    } catch (error) {
      toast(`upload of ${file.name} refused: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    }
    this.uploaded.push(model.id);
    toast(`uploaded ${file.name}${model.deduplicated ? " (already stored)" : ""}`, "info");
    return this.place(model.id);
  }
}
