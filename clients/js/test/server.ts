// Test support: a real Plaza server (the binary from PLAZA_BIN, default
// ../../target/debug/plaza) in a fresh temporary data directory on free loopback ports,
// configured through PLAZA_* environment variables (src/config/mod.rs), ready once
// GET /health answers. A missing binary is a failure that says how to build it.
//
// Two of them make a cluster when `start(env)` gives both the same PostgreSQL database
// (PLAZA_DATABASE_URL; clustering is on by default there): the way to test following
// `moved` live (test/cluster.test.ts; the Rust side tests the cluster itself).

import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's folder (this file runs from dist-test/). */
const PACKAGE_DIR = fileURLToPath(new URL("../", import.meta.url));

export function plazaBinary(): string {
  const given = process.env.PLAZA_BIN;
  return given ? resolve(process.cwd(), given) : resolve(PACKAGE_DIR, "../../target/debug/plaza");
}

async function freeTcpPort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? done(address.port) : fail(new Error("no port"))));
    });
  });
}

async function freeUdpPort(): Promise<number> {
  return new Promise((done, fail) => {
    const socket = createSocket("udp4");
    socket.once("error", fail);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => done(port));
    });
  });
}

export class TestServer {
  private log = "";

  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dataDir: string,
  ) {
    const keep = (chunk: Buffer) => {
      // The last 20 kB are enough to say why it failed.
      this.log = (this.log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** Starts the server and waits until it is healthy. */
  static async start(extraEnv: Record<string, string> = {}): Promise<TestServer> {
    const binary = plazaBinary();
    if (!existsSync(binary)) {
      throw new Error(
        `the Plaza server binary is not at ${binary}: build it first (\`cargo build\` in the repository root), or point PLAZA_BIN at one`,
      );
    }
    const dataDir = mkdtempSync(join(tmpdir(), "plaza-sdk-test-"));
    const [http, quic, webtransport] = [await freeTcpPort(), await freeUdpPort(), await freeUdpPort()];
    const child = spawn(binary, ["serve"], {
      // Its own directory, so that no plaza.toml of the caller is read.
      cwd: dataDir,
      // The caller's PLAZA_* settings are not this server's (the server refuses unknown
      // ones, PLAZA_BIN among them): only those set here reach it.
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PLAZA_"))),
        PLAZA_LOG: process.env.PLAZA_LOG ?? "warn",
        PLAZA_LISTEN: `127.0.0.1:${http}`,
        PLAZA_DATA_DIR: dataDir,
        PLAZA_QUIC_LISTEN: `127.0.0.1:${quic}`,
        PLAZA_WEBTRANSPORT_LISTEN: `127.0.0.1:${webtransport}`,
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const server = new TestServer(`http://127.0.0.1:${http}`, child, dataDir);
    await server.waitHealthy(30_000);
    return server;
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the server exited (${this.child.exitCode ?? this.child.signalCode}) before it was healthy; its log:\n${this.log}`);
      }
      try {
        const response = await fetch(`${this.url}/health`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.stop();
    throw new Error(`the server was not healthy within ${timeoutMs} ms; its log:\n${this.log}`);
  }

  /** What the server logged (the last 20 kB). */
  get output(): string {
    return this.log;
  }

  /** Stops it (SIGTERM, then SIGKILL after 10 s) and removes its data directory. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
