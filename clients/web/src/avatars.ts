// The people in the space as figures (capsule body, head, a visor that shows where they
// face) with name labels, coloured by user id and smoothed toward the newest pose the
// mirror has; one's own figure follows the local controls instead.

import * as THREE from "three";
import type { Transform, WireUser } from "../../js/src/index.ts";
import { colorOf } from "./scene.ts";

// Every figure is drawn by instanced meshes (bodies in each person's colour; heads with
// their visors), one draw call each however many people there are, in two levels of
// detail: figures farther than NEAR_DISTANCE from the camera use a coarse shape (on a
// CPU renderer the vertices of a crowd cost more than its pixels). Labels are sprites,
// drawn only for those within LABEL_DISTANCE of the camera.
const DETAIL = {
  near: { body: new THREE.CapsuleGeometry(0.28, 0.8, 3, 12).translate(0, 0.68, 0), head: headGeometry(14, 10) },
  far: { body: new THREE.CapsuleGeometry(0.28, 0.8, 1, 6).translate(0, 0.68, 0), head: headGeometry(7, 5) },
};
const NEAR_DISTANCE = 14;
const BODY_MATERIAL = new THREE.MeshLambertMaterial({ color: 0xffffff });
const HEAD_MATERIAL = new THREE.MeshLambertMaterial({ color: 0xffffff, vertexColors: true });
const BUCKETS = 48;
const LABEL_DISTANCE = 28;

/** Head and visor in one geometry, coloured per vertex (skin, dark glass). */
function headGeometry(widthSegments: number, heightSegments: number): THREE.BufferGeometry {
  const head = new THREE.SphereGeometry(0.21, widthSegments, heightSegments).translate(0, 1.55, 0);
  const visor = new THREE.BoxGeometry(0.3, 0.09, 0.12).translate(0, 1.58, 0.17).toNonIndexed();
  const parts = [head.toNonIndexed(), visor];
  const colours = [new THREE.Color(0xf1d3b6), new THREE.Color(0x1b2230)];
  let count = 0;
  for (const part of parts) count += part.attributes.position!.count;
  const position = new Float32Array(count * 3);
  const normal = new Float32Array(count * 3);
  const color = new Float32Array(count * 3);
  let offset = 0;
  parts.forEach((part, i) => {
    const n = part.attributes.position!.count;
    position.set(part.attributes.position!.array as Float32Array, offset * 3);
    normal.set(part.attributes.normal!.array as Float32Array, offset * 3);
    for (let v = 0; v < n; v++) colours[i]!.toArray(color, (offset + v) * 3);
    offset += n;
  });
  const merged = new THREE.BufferGeometry();
  merged.setAttribute("position", new THREE.BufferAttribute(position, 3));
  merged.setAttribute("normal", new THREE.BufferAttribute(normal, 3));
  merged.setAttribute("color", new THREE.BufferAttribute(color, 3));
  return merged;
}

/** A person's colour (one of BUCKETS hues, from the user id). */
function colourOf(user: string): THREE.Color {
  const hsl = { h: 0, s: 0, l: 0 };
  colorOf(user).getHSL(hsl);
  const bucket = Math.round(hsl.h * BUCKETS) % BUCKETS;
  return new THREE.Color().setHSL(bucket / BUCKETS, 0.62, 0.55, THREE.SRGBColorSpace);
}

/** The colour a person's figure has, as CSS (for the people list). */
export function cssColorOf(user: string): string {
  return `#${colourOf(user).getHexString(THREE.SRGBColorSpace)}`;
}

/** The turn about +Y of a rotation (the protocol's yaw turns +Z toward +X, as three's rotation.y). */
export function yawOf(rot: readonly number[]): number {
  const [x = 0, y = 0, z = 0, w = 1] = rot;
  return Math.atan2(2 * (x * z + w * y), 1 - 2 * (x * x + y * y));
}

function label(text: string): THREE.Sprite {
  const canvas = document.createElement("canvas");
  canvas.width = 256;
  canvas.height = 64;
  const ctx = canvas.getContext("2d")!;
  ctx.font = "600 30px system-ui, sans-serif";
  const shown = text.length > 18 ? `${text.slice(0, 17)}…` : text;
  const width = Math.min(248, ctx.measureText(shown).width + 24);
  ctx.fillStyle = "rgba(10, 14, 20, 0.62)";
  ctx.beginPath();
  ctx.roundRect((256 - width) / 2, 10, width, 44, 14);
  ctx.fill();
  ctx.fillStyle = "#ffffff";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(shown, 128, 33);
  const texture = new THREE.CanvasTexture(canvas);
  texture.colorSpace = THREE.SRGBColorSpace;
  texture.generateMipmaps = false;
  texture.minFilter = THREE.LinearFilter;
  const sprite = new THREE.Sprite(new THREE.SpriteMaterial({ map: texture, depthWrite: false, transparent: true }));
  sprite.scale.set(1.6, 0.4, 1);
  return sprite;
}

/** How fast a figure closes on its target: about 90% of the way in 120 ms. */
const SMOOTHING = 19;

export class Avatar {
  /** Where it is drawn now. */
  readonly position = new THREE.Vector3();
  /** Where the newest pose says it is. */
  readonly target = new THREE.Vector3();
  targetYaw = 0;
  yaw = 0;
  /** Its instance in the figure meshes. */
  slot = -1;
  readonly tag: THREE.Sprite;
  readonly colour: THREE.Color;

  constructor(
    readonly user: string,
    public name: string,
    transform: Transform,
  ) {
    this.colour = colourOf(user);
    this.tag = label(name);
    this.setTarget(transform);
    this.position.copy(this.target);
    this.yaw = this.targetYaw;
  }

  setTarget(transform: Transform): void {
    this.target.set(transform.pos[0], transform.pos[1], transform.pos[2]);
    this.targetYaw = yawOf(transform.rot);
  }

  /** Moves toward the target (exponential smoothing; no allocation). */
  step(k: number): void {
    const p = this.position;
    if (p.distanceToSquared(this.target) > 400) p.copy(this.target);
    else p.lerp(this.target, k);
    let turn = this.targetYaw - this.yaw;
    turn = Math.atan2(Math.sin(turn), Math.cos(turn));
    this.yaw += turn * k;
  }

  /** Places it at once (one's own figure, driven by the controls). */
  place(x: number, y: number, z: number, yaw: number): void {
    this.target.set(x, y, z);
    this.position.set(x, y, z);
    this.targetYaw = this.yaw = yaw;
  }

  dispose(): void {
    this.tag.material.map?.dispose();
    this.tag.material.dispose();
  }
}

/** One level of detail: the instanced bodies and heads. */
type Crowd = { bodies: THREE.InstancedMesh; heads: THREE.InstancedMesh };

export class Avatars {
  readonly group = new THREE.Group();
  readonly labels = new THREE.Group();
  readonly byUser = new Map<string, Avatar>();
  /** Dense, for the frame loop (a removal moves the last one into the gap). */
  private readonly slots: Avatar[] = [];
  private near!: Crowd;
  private far!: Crowd;
  private capacity = 0;
  private readonly matrix = new THREE.Matrix4();
  /** One's own user id: that figure is placed by the controls, not by the mirror. */
  self: string | null = null;
  /** Drawn in the last frame: labels, and figures in full detail. */
  labelsShown = 0;
  nearShown = 0;

  constructor(scene: THREE.Scene) {
    this.group.name = "avatars";
    this.labels.name = "labels";
    this.group.add(this.labels);
    scene.add(this.group);
    this.grow(64);
  }

  /** (Re)makes the instanced meshes with room for `capacity` figures (each frame fills them). */
  private grow(capacity: number): void {
    const old = this.near ? [this.near, this.far] : [];
    this.capacity = capacity;
    const crowd = (detail: (typeof DETAIL)["near"]): Crowd => {
      const made = { bodies: new THREE.InstancedMesh(detail.body, BODY_MATERIAL, capacity), heads: new THREE.InstancedMesh(detail.head, HEAD_MATERIAL, capacity) };
      for (const mesh of [made.bodies, made.heads]) {
        mesh.instanceMatrix.setUsage(THREE.DynamicDrawUsage);
        // The crowd moves every frame: its bounds would need recomputing to cull it.
        mesh.frustumCulled = false;
        mesh.count = 0;
        this.group.add(mesh);
      }
      made.bodies.setColorAt(0, new THREE.Color(1, 1, 1));
      made.bodies.instanceColor!.setUsage(THREE.DynamicDrawUsage);
      return made;
    };
    this.near = crowd(DETAIL.near);
    this.far = crowd(DETAIL.far);
    for (const { bodies, heads } of old) {
      for (const mesh of [bodies, heads]) {
        this.group.remove(mesh);
        mesh.dispose();
      }
    }
  }

  upsert(user: WireUser): Avatar {
    let avatar = this.byUser.get(user.user);
    if (!avatar) {
      avatar = new Avatar(user.user, user.name, user.transform);
      this.byUser.set(user.user, avatar);
      if (this.slots.length >= this.capacity) this.grow(this.capacity * 2);
      avatar.slot = this.slots.length;
      this.slots.push(avatar);
      this.labels.add(avatar.tag);
    } else if (user.user !== this.self) {
      avatar.setTarget(user.transform);
    }
    return avatar;
  }

  remove(user: string): void {
    const avatar = this.byUser.get(user);
    if (!avatar) return;
    this.byUser.delete(user);
    const last = this.slots.pop()!;
    if (last !== avatar) {
      last.slot = avatar.slot;
      this.slots[last.slot] = last;
    }
    avatar.slot = -1;
    this.labels.remove(avatar.tag);
    avatar.dispose();
  }

  clear(): void {
    for (const user of [...this.byUser.keys()]) this.remove(user);
  }

  /** Smooths every figure toward its pose and fills the instanced meshes (no allocation). */
  update(dt: number, camera: THREE.Camera): void {
    const k = 1 - Math.exp(-SMOOTHING * dt);
    const m = this.matrix;
    const cameraAt = camera.position;
    const labelFar = LABEL_DISTANCE * LABEL_DISTANCE;
    const detailFar = NEAR_DISTANCE * NEAR_DISTANCE;
    const near = this.near;
    const far = this.far;
    let nears = 0;
    let fars = 0;
    let labels = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const avatar = this.slots[i]!;
      if (avatar.user !== this.self) avatar.step(k);
      const p = avatar.position;
      const distance = p.distanceToSquared(cameraAt);
      m.makeRotationY(avatar.yaw).setPosition(p.x, p.y, p.z);
      const crowd = distance < detailFar ? near : far;
      const index = crowd === near ? nears++ : fars++;
      crowd.bodies.setMatrixAt(index, m);
      crowd.heads.setMatrixAt(index, m);
      crowd.bodies.setColorAt(index, avatar.colour);
      const tag = avatar.tag;
      tag.position.set(p.x, p.y + 2.1, p.z);
      // One's own label would sit in the middle of one's view.
      tag.visible = avatar.user !== this.self && distance < labelFar;
      if (tag.visible) labels += 1;
    }
    this.labelsShown = labels;
    this.nearShown = nears;
    near.bodies.count = near.heads.count = nears;
    far.bodies.count = far.heads.count = fars;
    near.bodies.instanceMatrix.needsUpdate = near.heads.instanceMatrix.needsUpdate = near.bodies.instanceColor!.needsUpdate = true;
    far.bodies.instanceMatrix.needsUpdate = far.heads.instanceMatrix.needsUpdate = far.bodies.instanceColor!.needsUpdate = true;
  }
}
