// Bundles code-editor.mjs and the CodeMirror packages it imports into one
// minified script, and gathers their licences beside it (`make vendor`).
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, readdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "portal", "static", "vendor", "codemirror");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "code-editor.mjs")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "none",
  outfile: join(out, "code-editor.min.js"),
});

// Every package that ends up in the bundle ships its licence: all MIT.
const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
const parts = [];
for (const [path, info] of Object.entries(lock.packages).sort()) {
  if (!path || info.dev === undefined || path.includes("esbuild")) continue;
  const dir = join(here, path);
  const licence = readdirSync(dir).find((name) => /^licen[cs]e/i.test(name));
  if (!licence) throw new Error(`${path} has no licence file`);
  const name = path.replace(/^node_modules\//, "");
  parts.push(`${name} ${info.version} (${info.license})\n${"=".repeat(60)}\n${readFileSync(join(dir, licence), "utf8").trim()}\n`);
}
writeFileSync(join(out, "LICENSE"), parts.join("\n"));
console.log(`built ${join(out, "code-editor.min.js")} and LICENSE (${parts.length} packages)`);
