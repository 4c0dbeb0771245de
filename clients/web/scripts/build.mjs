// Builds the page into a folder: index.html (copied from src/, CSS inline) and app.js (one
// minified ESM bundle: three.js, GLTFLoader, the SDK from ../js/src and the app; no
// source map, so the bytes depend only on the sources and the pinned esbuild).
//
//   node scripts/build.mjs dist            build into dist/ (what `npm run build` does)
//   node scripts/build.mjs --check         build into a temporary folder, compare with dist/
//   node scripts/build.mjs --watch dist    rebuild on every change (serve it with PLAZA_WEB_ROOT)

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const args = process.argv.slice(2);
const check = args.includes("--check");
const watch = args.includes("--watch");
const target = args.find((a) => !a.startsWith("--")) ?? "dist";

/** @type {import("esbuild").BuildOptions} */
const options = (outdir) => ({
  absWorkingDir: root,
  entryPoints: [join(root, "src/main.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome111", "firefox114", "safari16.4"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  charset: "utf8",
  outfile: join(outdir, "app.js"),
  logLevel: watch ? "info" : "warning",
});

async function buildInto(outdir) {
  mkdirSync(outdir, { recursive: true });
  await esbuild.build(options(outdir));
  copyFileSync(join(root, "src/index.html"), join(outdir, "index.html"));
}

if (check) {
  const temporary = mkdtempSync(join(root, "dist-check-"));
  try {
    await buildInto(temporary);
    const stale = ["index.html", "app.js"].filter((name) => {
      const committed = join(root, "dist", name);
      return !existsSync(committed) || !readFileSync(committed).equals(readFileSync(join(temporary, name)));
    });
    if (stale.length) {
      console.error(`clients/web/dist is stale: run \`npm run build\` in clients/web and commit it (differs: ${stale.join(", ")})`);
      process.exitCode = 1;
    } else {
      console.log("clients/web/dist is up to date");
    }
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
} else if (watch) {
  const outdir = resolve(root, target);
  mkdirSync(outdir, { recursive: true });
  copyFileSync(join(root, "src/index.html"), join(outdir, "index.html"));
  const context = await esbuild.context({
    ...options(outdir),
    plugins: [
      {
        name: "copy-index",
        setup(build) {
          build.onEnd(() => copyFileSync(join(root, "src/index.html"), join(outdir, "index.html")));
        },
      },
    ],
  });
  await context.watch();
  console.log(`watching: ${outdir} (serve it with PLAZA_WEB_ROOT=${outdir} plaza serve)`);
} else {
  await buildInto(resolve(root, target));
}
