// Screen sharing over WebRTC, set up with Plaza `signal` messages in the shapes the
// /debug console uses, so the two pages interoperate: a viewer sends {"type":"watch"} to
// a sharer, the sharer answers with {"type":"offer","sdp"}, the viewer with
// {"type":"answer","sdp"}, and both trade {"type":"candidate","candidate"}. What one
// watches plays on a panel (a VideoTexture) floating above the sharer's figure.

import * as THREE from "three";
import type { Client } from "../../js/src/index.ts";
import type { Avatars } from "./avatars.ts";
import { $, describe, toast } from "./ui.ts";

type Signal =
  | { type: "watch" }
  | { type: "offer"; sdp: string }
  | { type: "answer"; sdp: string }
  | { type: "candidate"; candidate: RTCIceCandidateInit; from?: "sharer" | "viewer" };

type Panel = { video: HTMLVideoElement; mesh: THREE.Mesh; texture: THREE.VideoTexture };

const PANEL = new THREE.PlaneGeometry(1, 1);

export class Sharing {
  /** What one shares, or null. */
  private stream: MediaStream | null = null;
  /** Peer connections to those who watch me, and to those I watch, by user id. */
  private readonly outgoing = new Map<string, RTCPeerConnection>();
  private readonly incoming = new Map<string, RTCPeerConnection>();
  /** Signals from one sender are handled one after the other. */
  private readonly queues = new Map<string, Promise<void>>();
  readonly panels = new Map<string, Panel>();
  private readonly button = $<HTMLButtonElement>("share");

  constructor(
    private readonly client: Client,
    private readonly scene: THREE.Scene,
    private readonly avatars: Avatars,
    private readonly camera: THREE.Camera,
  ) {
    this.button.addEventListener("click", () => {
      if (this.stream) this.stop();
      else void this.start();
    });
    client.on("signal", (from, data) => {
      const queue = (this.queues.get(from) ?? Promise.resolve()).then(() => this.onSignal(from, data)).catch((error: unknown) => console.warn("webrtc:", error));
      this.queues.set(from, queue);
    });
    client.on("share", (share, active) => {
      if (share.user === client.user) return;
      if (active) this.watch(share.user);
      else this.unwatch(share.user);
    });
    client.on("userLeft", (user) => {
      this.unwatch(user.user);
      this.outgoing.get(user.user)?.close();
      this.outgoing.delete(user.user);
    });
  }

  /** On entering a space: watch whoever already shares. */
  entered(): void {
    for (const user of [...this.incoming.keys()]) this.unwatch(user);
    for (const share of this.client.space.shares.values()) if (share.user !== this.client.user) this.watch(share.user);
  }

  /** Shares the screen (`canvas`: a changing canvas instead, for headless tests). */
  async start(source: "screen" | "canvas" = "screen"): Promise<void> {
    try {
      this.stream = source === "canvas" ? canvasStream() : await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      this.stream.getVideoTracks()[0]?.addEventListener("ended", () => this.stop());
      await this.client.shareScreen("screen");
      this.button.classList.add("on");
      this.button.textContent = "Stop sharing";
    } catch (error) {
      this.stream?.getTracks().forEach((track) => track.stop());
      this.stream = null;
      toast(describe(error, "share screen"));
    }
  }

  stop(): void {
    if (!this.stream) return;
    this.stream.getTracks().forEach((track) => track.stop());
    this.stream = null;
    for (const pc of this.outgoing.values()) pc.close();
    this.outgoing.clear();
    this.client.stopSharing();
    this.button.classList.remove("on");
    this.button.textContent = "Share screen";
  }

  private send(to: string, data: Signal): void {
    this.client.signal(to, JSON.stringify(data)).catch((error: unknown) => console.warn("signal:", error));
  }

  private connection(map: Map<string, RTCPeerConnection>, user: string, role: "sharer" | "viewer"): RTCPeerConnection {
    let pc = map.get(user);
    if (pc) return pc;
    pc = new RTCPeerConnection();
    pc.onicecandidate = (event) => {
      if (event.candidate) this.send(user, { type: "candidate", candidate: event.candidate.toJSON(), from: role });
    };
    if (role === "viewer") pc.ontrack = (event) => this.show(user, event.streams[0] ?? new MediaStream([event.track]));
    map.set(user, pc);
    return pc;
  }

  private watch(user: string): void {
    if (this.incoming.has(user)) return;
    this.connection(this.incoming, user, "viewer");
    this.send(user, { type: "watch" });
  }

  private unwatch(user: string): void {
    this.incoming.get(user)?.close();
    this.incoming.delete(user);
    const panel = this.panels.get(user);
    if (panel) {
      this.scene.remove(panel.mesh);
      panel.texture.dispose();
      (panel.mesh.material as THREE.Material).dispose();
      panel.video.srcObject = null;
      this.panels.delete(user);
    }
  }

  private async onSignal(from: string, data: string): Promise<void> {
    let msg: Signal;
    try {
      msg = JSON.parse(data) as Signal;
    } catch {
      return;
    }
    if (msg.type === "watch") {
      if (!this.stream) return;
      this.outgoing.get(from)?.close();
      this.outgoing.delete(from);
      const pc = this.connection(this.outgoing, from, "sharer");
      for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
      await pc.setLocalDescription(await pc.createOffer());
      this.send(from, { type: "offer", sdp: pc.localDescription!.sdp });
    } else if (msg.type === "offer") {
      // The debug console offers only after our watch; take it whenever it comes.
      const pc = this.connection(this.incoming, from, "viewer");
      await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      this.send(from, { type: "answer", sdp: pc.localDescription!.sdp });
    } else if (msg.type === "answer") {
      await this.outgoing.get(from)?.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    } else if (msg.type === "candidate") {
      // The debug console does not say which side a candidate is for: the one that exists.
      const pc =
        msg.from === "sharer" ? this.incoming.get(from) : msg.from === "viewer" ? this.outgoing.get(from) : (this.incoming.get(from) ?? this.outgoing.get(from));
      if (pc?.remoteDescription) await pc.addIceCandidate(msg.candidate);
    }
  }

  private show(user: string, stream: MediaStream): void {
    let panel = this.panels.get(user);
    if (!panel) {
      const video = document.createElement("video");
      video.muted = true;
      video.playsInline = true;
      video.autoplay = true;
      const texture = new THREE.VideoTexture(video);
      texture.colorSpace = THREE.SRGBColorSpace;
      const mesh = new THREE.Mesh(PANEL, new THREE.MeshBasicMaterial({ map: texture, side: THREE.DoubleSide, toneMapped: false }));
      mesh.scale.set(3.2, 1.8, 1);
      video.addEventListener("resize", () => {
        if (video.videoWidth && video.videoHeight) mesh.scale.set((1.8 * video.videoWidth) / video.videoHeight, 1.8, 1);
      });
      this.scene.add(mesh);
      panel = { video, mesh, texture };
      this.panels.set(user, panel);
    }
    panel.video.srcObject = stream;
    panel.video.play().catch(() => {});
  }

  /** Keeps each panel above its sharer, turned toward the camera. */
  update(): void {
    for (const [user, panel] of this.panels) {
      const avatar = this.avatars.byUser.get(user);
      if (avatar) panel.mesh.position.set(avatar.position.x, avatar.position.y + 3.4, avatar.position.z);
      panel.mesh.lookAt(this.camera.position);
    }
  }

  /** Panels playing video (with frames), for the test hook. */
  playing(): number {
    let n = 0;
    for (const panel of this.panels.values()) if (panel.video.videoWidth > 0) n += 1;
    return n;
  }
}

/** A canvas that keeps changing, shared instead of a screen in headless tests. */
function canvasStream(): MediaStream {
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = 180;
  const ctx = canvas.getContext("2d")!;
  let frame = 0;
  setInterval(() => {
    frame += 1;
    ctx.fillStyle = `hsl(${(frame * 7) % 360}, 80%, 50%)`;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#fff";
    ctx.font = "28px sans-serif";
    ctx.fillText(`shared ${frame}`, 20, 100);
  }, 50);
  return canvas.captureStream(20);
}
