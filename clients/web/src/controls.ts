// Walking: WASD / arrows (and Q/E to turn), pointer drag to turn and tilt the view, the
// wheel to zoom, an on-screen joystick on touch screens; the third-person camera behind
// one's own figure; and sending one's pose, at most 10 times a second and only when it
// changed.

import * as THREE from "three";
import { yaw as yawQuat, type Client } from "../../js/src/index.ts";

const WALK = 4; // m/s
const RUN = 8;
const TURN = 2.2; // rad/s
const POSE_INTERVAL_MS = 100;

/** Something under the pointer that wants the drag (an object to move) instead of the view. */
export type PointerClaim = {
  move(event: PointerEvent): void;
  end(event: PointerEvent, moved: boolean): void;
};

export class Controls {
  x = 0;
  y = 0;
  z = 0;
  yaw = 0;
  pitch = 0.55;
  distance = 6.5;
  /** Set by the build tools: a pointer-down they take (an object was hit), or null. */
  claim: ((event: PointerEvent, ndc: THREE.Vector2) => PointerClaim | null) | null = null;
  /** Clicks on empty ground (deselect). */
  onEmptyClick: (() => void) | null = null;
  private readonly keys = new Set<string>();
  private readonly joystick = { x: 0, y: 0 };
  private readonly look = new THREE.Vector3();
  private readonly ndc = new THREE.Vector2();
  private lastSent = { x: Infinity, y: Infinity, z: Infinity, yaw: Infinity, at: -Infinity };
  /** Poses sent, for tests. */
  posesSent = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly camera: THREE.PerspectiveCamera,
    private readonly client: Client,
  ) {
    const typing = (event: Event) => {
      const target = event.target as HTMLElement | null;
      return !!target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
    };
    window.addEventListener("keydown", (event) => {
      if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      this.keys.add(event.code);
      if (event.code.startsWith("Arrow") || event.code === "Space") event.preventDefault();
    });
    window.addEventListener("keyup", (event) => this.keys.delete(event.code));
    window.addEventListener("blur", () => this.keys.clear());
    this.pointer();
    this.touchJoystick();
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.distance = Math.min(30, Math.max(2, this.distance * Math.exp(event.deltaY * 0.001)));
    }, { passive: false });
  }

  private pointer(): void {
    const canvas = this.canvas;
    let drag: { id: number; x: number; y: number; moved: boolean; claim: PointerClaim | null } | null = null;
    canvas.addEventListener("pointerdown", (event) => {
      if (drag || event.button > 0) return;
      canvas.focus();
      const rect = canvas.getBoundingClientRect();
      this.ndc.set(((event.clientX - rect.left) / rect.width) * 2 - 1, -((event.clientY - rect.top) / rect.height) * 2 + 1);
      drag = { id: event.pointerId, x: event.clientX, y: event.clientY, moved: false, claim: this.claim?.(event, this.ndc) ?? null };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag || drag.id !== event.pointerId) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      drag.moved = true;
      if (drag.claim) {
        drag.claim.move(event);
        return;
      }
      drag.x = event.clientX;
      drag.y = event.clientY;
      this.yaw -= dx * 0.006;
      this.pitch = Math.min(1.3, Math.max(-0.2, this.pitch + dy * 0.004));
    });
    const end = (event: PointerEvent) => {
      if (!drag || drag.id !== event.pointerId) return;
      const { claim, moved } = drag;
      drag = null;
      if (claim) claim.end(event, moved);
      else if (!moved) this.onEmptyClick?.();
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }

  private touchJoystick(): void {
    const pad = document.getElementById("joystick");
    const knob = pad?.querySelector("span");
    if (!pad || !knob) return;
    let active: number | null = null;
    const set = (event: PointerEvent) => {
      const rect = pad.getBoundingClientRect();
      let jx = (event.clientX - rect.left) / (rect.width / 2) - 1;
      let jy = (event.clientY - rect.top) / (rect.height / 2) - 1;
      const length = Math.hypot(jx, jy);
      if (length > 1) {
        jx /= length;
        jy /= length;
      }
      this.joystick.x = jx;
      this.joystick.y = jy;
      knob.style.transform = `translate(${jx * 40}px, ${jy * 40}px)`;
    };
    pad.addEventListener("pointerdown", (event) => {
      active = event.pointerId;
      pad.setPointerCapture(event.pointerId);
      set(event);
    });
    pad.addEventListener("pointermove", (event) => {
      if (event.pointerId === active) set(event);
    });
    const release = (event: PointerEvent) => {
      if (event.pointerId !== active) return;
      active = null;
      this.joystick.x = this.joystick.y = 0;
      knob.style.transform = "";
    };
    pad.addEventListener("pointerup", release);
    pad.addEventListener("pointercancel", release);
  }

  /** Where one stands (from the mirror, on joining). */
  place(pos: readonly number[], yaw: number): void {
    this.x = pos[0] ?? 0;
    this.y = pos[1] ?? 0;
    this.z = pos[2] ?? 0;
    this.yaw = yaw;
  }

  /** The point `distance` metres ahead on the ground. */
  ahead(distance: number): [number, number, number] {
    return [this.x + Math.sin(this.yaw) * distance, 0, this.z + Math.cos(this.yaw) * distance];
  }

  update(dt: number, now: number): void {
    const k = this.keys;
    let forward = 0;
    let strafe = 0;
    let turn = 0;
    if (k.has("KeyW") || k.has("ArrowUp")) forward += 1;
    if (k.has("KeyS") || k.has("ArrowDown")) forward -= 1;
    if (k.has("KeyD")) strafe += 1;
    if (k.has("KeyA")) strafe -= 1;
    if (k.has("ArrowLeft") || k.has("KeyQ")) turn += 1;
    if (k.has("ArrowRight") || k.has("KeyE")) turn -= 1;
    forward -= this.joystick.y;
    turn -= this.joystick.x * 0.9;
    const speed = k.has("ShiftLeft") || k.has("ShiftRight") ? RUN : WALK;
    this.yaw += turn * TURN * dt;
    const sin = Math.sin(this.yaw);
    const cos = Math.cos(this.yaw);
    const length = Math.hypot(forward, strafe);
    if (length > 0) {
      const scale = (speed * dt) / Math.max(1, length);
      // Forward is (sin, 0, cos); the camera's right is (-cos, 0, sin).
      this.x += (forward * sin - strafe * cos) * scale;
      this.z += (forward * cos + strafe * sin) * scale;
    }
    this.updateCamera(sin, cos);
    this.sendPose(now);
  }

  private updateCamera(sin: number, cos: number): void {
    const horizontal = Math.cos(this.pitch) * this.distance;
    this.camera.position.set(this.x - sin * horizontal, this.y + 1.6 + Math.sin(this.pitch) * this.distance, this.z - cos * horizontal);
    // Look a little ahead of the figure, so that what is in front of it shows above it.
    this.look.set(this.x + sin * 2, this.y + 1.3, this.z + cos * 2);
    this.camera.lookAt(this.look);
  }

  private sendPose(now: number): void {
    const last = this.lastSent;
    if (now - last.at < POSE_INTERVAL_MS) return;
    const moved = Math.abs(this.x - last.x) > 0.001 || Math.abs(this.z - last.z) > 0.001 || Math.abs(this.y - last.y) > 0.001;
    const turned = Math.abs(this.yaw - last.yaw) > 0.005;
    if (!moved && !turned) return;
    if (this.client.state !== "open" || !this.client.space.id) return;
    this.client.pose({ pos: [this.x, this.y, this.z], rot: yawQuat(this.yaw) });
    this.posesSent += 1;
    last.x = this.x;
    last.y = this.y;
    last.z = this.z;
    last.yaw = this.yaw;
    last.at = now;
  }
}
