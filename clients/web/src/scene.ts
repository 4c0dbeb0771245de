// The three.js stage: renderer, scene, camera, lights and ground grid, and the frame loop
// that calls every per-frame updater and keeps frame-time statistics for the test hook.

import * as THREE from "three";

export type Updater = (dt: number, now: number) => void;

/** Frame times kept for tests and the benchmark: rAF deltas and the work done per frame. */
export class FrameStats {
  /** Milliseconds between animation frames. */
  readonly deltas: number[] = [];
  /** Milliseconds spent in updates + render per frame (performance.now around them). */
  readonly work: number[] = [];
  private readonly cap = 20_000;

  add(delta: number, work: number): void {
    if (this.deltas.length >= this.cap) return;
    this.deltas.push(delta);
    this.work.push(work);
  }

  reset(): void {
    this.deltas.length = 0;
    this.work.length = 0;
  }
}

export class Stage {
  readonly renderer: THREE.WebGLRenderer;
  readonly scene = new THREE.Scene();
  readonly camera = new THREE.PerspectiveCamera(60, 1, 0.1, 500);
  readonly ground: THREE.Mesh;
  readonly stats = new FrameStats();
  private readonly updaters: Updater[] = [];
  private last = 0;
  private running = false;

  /** `low` (no MSAA, pixel ratio 1) where the GPU is software (SwiftShader, llvmpipe), or as asked. */
  readonly quality: "low" | "high";

  constructor(readonly canvas: HTMLCanvasElement, quality: "auto" | "low" | "high" = "auto") {
    this.quality = quality === "auto" ? (softwareRenderer() ? "low" : "high") : quality;
    const high = this.quality === "high";
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: high, powerPreference: "high-performance" });
    this.renderer.setPixelRatio(high ? Math.min(window.devicePixelRatio || 1, 2) : 1);
    this.renderer.outputColorSpace = THREE.SRGBColorSpace;
    this.scene.background = new THREE.Color(0x9cc3e6);
    this.scene.fog = new THREE.Fog(0x9cc3e6, 60, 180);

    const hemisphere = new THREE.HemisphereLight(0xdfefff, 0x4a5a3a, 1.6);
    this.scene.add(hemisphere);
    const sun = new THREE.DirectionalLight(0xffffff, 1.8);
    sun.position.set(30, 60, 20);
    this.scene.add(sun);

    // The ground is flat, so lighting would give it one colour anyway: an unlit material
    // in that colour costs far less per pixel (it covers most of the screen).
    this.ground = new THREE.Mesh(
      new THREE.PlaneGeometry(400, 400).rotateX(-Math.PI / 2),
      new THREE.MeshBasicMaterial({ color: 0x7d9e68 }),
    );
    this.ground.name = "ground";
    this.scene.add(this.ground);
    // A grid of metres near the middle only: far away its lines only shimmer, and cost.
    const grid = new THREE.GridHelper(80, 80, 0x2f4a2a, 0x5d7a4e);
    grid.position.y = 0.005;
    this.scene.add(grid);

    this.camera.position.set(0, 3, 6);
    this.resize();
    window.addEventListener("resize", () => this.resize());
  }

  /** Runs `fn` every frame, before the render, with the frame's seconds since the last. */
  onFrame(fn: Updater): void {
    this.updaters.push(fn);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const frame = (now: number) => {
      if (!this.running) return;
      requestAnimationFrame(frame);
      const delta = this.last ? now - this.last : 16.7;
      this.last = now;
      // A tab in the background comes back with a huge gap: do not jump through walls.
      const dt = Math.min(delta, 100) / 1000;
      const began = performance.now();
      for (const update of this.updaters) update(dt, now);
      this.renderer.render(this.scene, this.camera);
      this.stats.add(delta, performance.now() - began);
    };
    requestAnimationFrame(frame);
  }

  private resize(): void {
    const width = window.innerWidth || 800;
    const height = window.innerHeight || 600;
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
  }
}

/** Whether WebGL draws on the CPU (then every pixel counts). */
function softwareRenderer(): boolean {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (!gl) return true;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return /swiftshader|llvmpipe|software|softpipe/i.test(name);
  } catch {
    return false;
  }
}

/** A stable colour for a user id (or any string): a hue from its hash. */
export function colorOf(key: string): THREE.Color {
  let hash = 2166136261;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 16777619);
  const hue = ((hash >>> 0) % 360) / 360;
  return new THREE.Color().setHSL(hue, 0.62, 0.55, THREE.SRGBColorSpace);
}
