// Bundles the pure front-end modules for node's test runner (ui/dist-test, not shipped).
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ui = join(dirname(fileURLToPath(import.meta.url)), "..");
for (const name of ["wedge", "ruleform", "retailers", "images", "actions", "search", "reportview"]) {
  await build({
    entryPoints: [join(ui, "src", `${name}.ts`)],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "es2022",
    outfile: join(ui, "dist-test", `${name}.mjs`),
    logLevel: "warning",
  });
}
