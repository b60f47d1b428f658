// Builds ui/dist: bundles src/main.ts, copies the page, the styles and the demo images from
// ../assets/demo. Type checking is `tsc --noEmit` (run first by `npm run build`).
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// Split: the reports screen (with its charting library) is a chunk loaded when it is first
// opened, so the window starts without parsing it.
await build({
  entryPoints: { app: join(here, "src", "main.ts") },
  bundle: true,
  splitting: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  outdir: dist,
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
});
cpSync(join(here, "index.html"), join(dist, "index.html"));
cpSync(join(here, "styles.css"), join(dist, "styles.css"));
cpSync(join(here, "..", "assets", "demo"), join(dist, "demo"), { recursive: true });
console.log("ui/dist built");
