// Copies the built files of the pinned packages (package-lock.json) into the folder convtrack
// serves them from, byte for byte, with their licences, and writes MANIFEST.json saying where
// each file came from (ADR 0036). Run after `npm ci`: `cd ui && npm ci && npm run vendor`.
// Never edit a vendored file by hand: change the pin in package.json and run this again.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "adapters", "http", "ui", "static", "vendor");

// [package, file in the package, name served under /ui/static/vendor/]
const FILES = [
  ["preact", "dist/preact.mjs", "preact.mjs"],
  ["preact", "hooks/dist/hooks.mjs", "preact-hooks.mjs"],
  ["htm", "dist/htm.mjs", "htm.mjs"],
  ["chart.js", "dist/chart.umd.min.js", "chart.umd.min.js"],
  ["swagger-ui-dist", "swagger-ui-bundle.js", "swagger-ui-bundle.js"],
  ["swagger-ui-dist", "swagger-ui-standalone-preset.js", "swagger-ui-standalone-preset.js"],
  ["swagger-ui-dist", "swagger-ui.css", "swagger-ui.css"],
];
const LICENCES = ["LICENSE", "LICENSE.md", "NOTICE"];

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");
const packageDir = (name) => join(here, "node_modules", name);
const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));

rmSync(target, { recursive: true, force: true });
mkdirSync(join(target, "licenses"), { recursive: true });

const files = [];
const packages = {};
for (const [name, source, served] of FILES) {
  const meta = JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8"));
  const locked = lock.packages[`node_modules/${name}`];
  if (!locked || locked.version !== meta.version) {
    throw new Error(`${name}: installed ${meta.version} is not the locked one; run npm ci`);
  }
  copyFileSync(join(packageDir(name), source), join(target, served));
  files.push({ file: served, package: name, version: meta.version, source,
               sha256: sha256(join(target, served)) });
  packages[name] = { version: meta.version, license: meta.license, resolved: locked.resolved,
                     integrity: locked.integrity };
}
for (const name of Object.keys(packages)) {
  for (const licence of LICENCES) {
    const path = join(packageDir(name), licence);
    if (existsSync(path)) copyFileSync(path, join(target, "licenses", `${name}-${licence}`));
  }
}
writeFileSync(join(target, "MANIFEST.json"), JSON.stringify({
  generated_by: "cd ui && npm ci && npm run vendor",
  note: "Copied byte for byte from the npm packages locked in ui/package-lock.json; do not edit.",
  packages, files,
}, null, 2) + "\n");
console.log(`vendored ${files.length} files from ${Object.keys(packages).length} packages into ${target}`);
