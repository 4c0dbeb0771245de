// The space's objects as three.js meshes: the built-in primitives from shared geometries
// (coloured by `props.color`), uploaded models loaded once per id with GLTFLoader (a
// placeholder box while loading or when loading fails), smoothed toward their newest
// transform; plus picking and the selection outline.

import * as THREE from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { modelFileUrl, type Transform, type WireObject } from "../../js/src/index.ts";

export const PRIMITIVES = ["cube", "sphere", "cylinder", "cone", "plane", "torus", "capsule"] as const;

// Every primitive is about a metre across, centred on its origin.
const GEOMETRIES: Record<string, THREE.BufferGeometry> = {
  cube: new THREE.BoxGeometry(1, 1, 1),
  sphere: new THREE.SphereGeometry(0.5, 24, 16),
  cylinder: new THREE.CylinderGeometry(0.5, 0.5, 1, 24),
  cone: new THREE.ConeGeometry(0.5, 1, 24),
  plane: new THREE.PlaneGeometry(1, 1),
  torus: new THREE.TorusGeometry(0.38, 0.14, 12, 32),
  capsule: new THREE.CapsuleGeometry(0.3, 0.4, 4, 12),
};
const PLACEHOLDER = new THREE.BoxGeometry(1, 1, 1);
const PLACEHOLDER_MATERIAL = new THREE.MeshBasicMaterial({ color: 0xb0b8c4, wireframe: true });
const DEFAULT_COLOR = "#c9ced6";
const materials = new Map<string, THREE.MeshLambertMaterial>();

function materialFor(color: unknown): THREE.MeshLambertMaterial {
  const key = typeof color === "string" && color.length < 64 ? color : DEFAULT_COLOR;
  let material = materials.get(key);
  if (!material) {
    const parsed = new THREE.Color(DEFAULT_COLOR);
    try {
      // setStyle warns and keeps the colour on a string it does not know.
      parsed.setStyle(key, THREE.SRGBColorSpace);
    } catch {
      // keep the default
    }
    material = new THREE.MeshLambertMaterial({ color: parsed, side: THREE.DoubleSide });
    materials.set(key, material);
  }
  return material;
}

/** Models by id, loaded once: their scene, cloned for each object that uses them. */
class ModelCache {
  private readonly loader = new GLTFLoader();
  private readonly models = new Map<string, Promise<THREE.Object3D>>();
  failures = 0;

  get(id: string): Promise<THREE.Object3D> {
    let model = this.models.get(id);
    if (!model) {
      model = this.loader.loadAsync(modelFileUrl({ url: location.origin }, id)).then((gltf) => {
        // Models without normals would be drawn black: give them some.
        gltf.scene.traverse((node) => {
          const mesh = node as THREE.Mesh;
          if (mesh.isMesh && !mesh.geometry.attributes.normal) mesh.geometry.computeVertexNormals();
        });
        return gltf.scene;
      });
      model.catch(() => (this.failures += 1));
      this.models.set(id, model);
    }
    return model;
  }
}

const SMOOTHING = 18;

/** One object in the scene. `root` carries the transform; its child is the shape. */
export class SceneObject {
  readonly root = new THREE.Group();
  readonly target = new THREE.Vector3();
  readonly targetRotation = new THREE.Quaternion();
  /** Being dragged here: the mirror's echoes do not pull it back meanwhile. */
  held = false;
  shape: THREE.Object3D;
  loaded: "primitive" | "loading" | "model" | "failed";

  constructor(public wire: WireObject) {
    this.root.userData.objectId = wire.id;
    const geometry = GEOMETRIES[wire.model];
    if (geometry) {
      this.shape = new THREE.Mesh(geometry, materialFor(wire.props.color));
      this.loaded = "primitive";
    } else {
      this.shape = new THREE.Mesh(PLACEHOLDER, PLACEHOLDER_MATERIAL);
      this.loaded = "loading";
    }
    this.root.add(this.shape);
    this.setTarget(wire.transform);
    this.root.position.copy(this.target);
    this.root.quaternion.copy(this.targetRotation);
  }

  setTarget(transform: Transform): void {
    const [x, y, z] = transform.pos;
    const [qx, qy, qz, qw] = transform.rot;
    this.target.set(x, y, z);
    this.targetRotation.set(qx, qy, qz, qw).normalize();
    this.root.scale.set(transform.scale[0], transform.scale[1], transform.scale[2]);
  }

  update(wire: WireObject): void {
    const recolor = this.loaded === "primitive" && wire.props.color !== this.wire.props.color;
    this.wire = wire;
    if (recolor) (this.shape as THREE.Mesh).material = materialFor(wire.props.color);
    if (!this.held) this.setTarget(wire.transform);
  }

  setShape(shape: THREE.Object3D): void {
    this.root.remove(this.shape);
    this.shape = shape;
    this.root.add(shape);
  }

  step(k: number): void {
    if (this.held) return;
    this.root.position.lerp(this.target, k);
    this.root.quaternion.slerp(this.targetRotation, k);
  }
}

export class Objects {
  readonly group = new THREE.Group();
  readonly byId = new Map<string, SceneObject>();
  private readonly models = new ModelCache();
  private readonly outline: THREE.BoxHelper;
  private readonly raycaster = new THREE.Raycaster();
  selected: SceneObject | null = null;

  constructor(scene: THREE.Scene) {
    this.group.name = "objects";
    scene.add(this.group);
    this.outline = new THREE.BoxHelper(new THREE.Object3D(), 0xffe066);
    this.outline.visible = false;
    scene.add(this.outline);
  }

  add(wire: WireObject): void {
    if (this.byId.has(wire.id)) return this.change(wire);
    const object = new SceneObject(wire);
    this.byId.set(wire.id, object);
    this.group.add(object.root);
    if (object.loaded === "loading") {
      this.models.get(wire.model).then(
        (model) => {
          if (this.byId.get(wire.id) !== object) return;
          object.setShape(model.clone(true));
          object.loaded = "model";
          if (this.selected === object) this.outline.setFromObject(object.root);
        },
        (error: unknown) => {
          object.loaded = "failed";
          console.warn(`model ${wire.model} did not load:`, error);
        },
      );
    }
  }

  change(wire: WireObject): void {
    this.byId.get(wire.id)?.update(wire);
  }

  remove(id: string): void {
    const object = this.byId.get(id);
    if (!object) return;
    this.byId.delete(id);
    this.group.remove(object.root);
    if (this.selected === object) this.select(null);
  }

  clear(): void {
    for (const id of [...this.byId.keys()]) this.remove(id);
  }

  select(object: SceneObject | null): void {
    this.selected = object;
    this.outline.visible = object !== null;
    if (object) this.outline.setFromObject(object.root);
  }

  /** The object under a point of the canvas (normalised device coordinates). */
  pick(ndc: THREE.Vector2, camera: THREE.Camera): SceneObject | null {
    this.raycaster.setFromCamera(ndc, camera);
    const hits = this.raycaster.intersectObject(this.group, true);
    for (const hit of hits) {
      let node: THREE.Object3D | null = hit.object;
      while (node && node.userData.objectId === undefined) node = node.parent;
      const object = node ? this.byId.get(node.userData.objectId as string) : undefined;
      if (object) return object;
    }
    return null;
  }

  update(dt: number): void {
    const k = 1 - Math.exp(-SMOOTHING * dt);
    for (const object of this.byId.values()) object.step(k);
    if (this.selected) this.outline.setFromObject(this.selected.root);
  }

  /** How many objects show their model (not a placeholder), for the test hook. */
  counts(): { objects: number; models: number; loading: number; failed: number } {
    let models = 0;
    let loading = 0;
    let failed = 0;
    for (const object of this.byId.values()) {
      if (object.loaded === "model") models += 1;
      else if (object.loaded === "loading") loading += 1;
      else if (object.loaded === "failed") failed += 1;
    }
    return { objects: this.byId.size, models, loading, failed };
  }
}
