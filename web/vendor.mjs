// Copies the browser files the console uses from node_modules into web/vendor, with their
// licenses and a manifest (package, version, sha256 of each file). Run by `make web-vendor`
// after `npm ci`; the result is committed, so `make dev` and `make test` need no Node.js.
// Nothing is fetched at run time: firebase-auth.js imports firebase-app.js from Google's CDN
// in the published file, and that import is rewritten to the vendored copy beside it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const out = join(here, "vendor");
const APACHE = "/usr/share/common-licenses/Apache-2.0"; // Debian's copy of the license text

function version(pkg) {
  return JSON.parse(readFileSync(join(modules, pkg, "package.json"), "utf8")).version;
}

// Drop the source-map comment: the maps are not vendored.
const stripMap = (text) => text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n");

const FILES = [
  { pkg: "chart.js", from: "dist/chart.umd.min.js", to: "chart.umd.min.js", license: "MIT" },
  // Test-only: tests/browser loads it into the pages to check them; no page loads it.
  { pkg: "axe-core", from: "axe.min.js", to: "axe.min.js", license: "MPL-2.0" },
  { pkg: "firebase", from: "firebase-app.js", to: "firebase-app.js", license: "Apache-2.0" },
  {
    pkg: "firebase",
    from: "firebase-auth.js",
    to: "firebase-auth.js",
    license: "Apache-2.0",
    rewrite: (text) =>
      text.replaceAll(
        `https://www.gstatic.com/firebasejs/${version("firebase")}/firebase-app.js`,
        "./firebase-app.js",
      ),
  },
];

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const manifest = { generatedBy: "web/vendor.mjs", files: [] };
for (const file of FILES) {
  let text = stripMap(readFileSync(join(modules, file.pkg, file.from), "utf8"));
  if (file.rewrite) text = file.rewrite(text);
  if (/\b(?:from|import)\s*\(?\s*["']https?:\/\//.test(text)) {
    throw new Error(`${file.to} still imports from a CDN`);
  }
  writeFileSync(join(out, file.to), text);
  manifest.files.push({
    file: file.to,
    package: file.pkg,
    version: version(file.pkg),
    source: `node_modules/${file.pkg}/${file.from}`,
    license: file.license,
    sha256: createHash("sha256").update(text).digest("hex"),
  });
}

const chartLicense = readFileSync(join(modules, "chart.js", "LICENSE.md"), "utf8");
const apache = existsSync(APACHE)
  ? readFileSync(APACHE, "utf8")
  : "The Apache License 2.0: https://www.apache.org/licenses/LICENSE-2.0\n";
writeFileSync(
  join(out, "LICENSES.md"),
  `# Third-party files in web/vendor

| file | package | version | license |
| --- | --- | --- | --- |
${manifest.files.map((f) => `| ${f.file} | ${f.package} | ${f.version} | ${f.license} |`).join("\n")}

## chart.js (MIT)

${chartLicense.trim()}

## axe-core (MPL-2.0)

Used by the browser tests only (tests/browser/test_accessibility.py), unmodified.

${readFileSync(join(modules, "axe-core", "LICENSE"), "utf8").trim()}

## firebase (Apache-2.0)

Copyright Google LLC. Licensed under the Apache License, Version 2.0 (the package's
package.json: "license": "Apache-2.0"); firebase-auth.js is modified only in that its
import of firebase-app.js points to the copy beside it instead of Google's CDN.

\`\`\`
${apache.trim()}
\`\`\`
`,
);
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`vendored ${manifest.files.length} files into ${out}`);
