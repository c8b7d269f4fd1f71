// The package a user installs: the README's Install lines, as written, in
// a copy of the repository (without dist, so the pack itself must build it,
// by prepack) beside a scratch project, offline; then the package is
// imported there. A pack without a build used to make a package without
// dist, and importing it failed with ERR_MODULE_NOT_FOUND.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, cpSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");

// The commands of the ```sh block under the README's ## Install.
function installLines() {
  const readme = readFileSync(join(pkgDir, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Install\n"));
  const block = section?.match(/```sh\n([\s\S]*?)```/)?.[1];
  assert.ok(block, "README.md has no ```sh block under ## Install");
  return block.split("\n").map((l) => l.trim()).filter(Boolean);
}

test("the README's install lines pack the package, install it into another project, and it imports", () => {
  const root = mkdtempSync(join(tmpdir(), "ocs-ts-pack-"));
  try {
    const copy = join(root, "clients", "typescript");
    mkdirSync(copy, { recursive: true });
    for (const f of ["package.json", "package-lock.json", "tsconfig.json", "README.md", "src"]) {
      cpSync(join(pkgDir, f), join(copy, f), { recursive: true });
    }
    const project = join(root, "your-mcp-server");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "mcp-server", private: true, type: "module" }));

    // npm from its cache (make test-clients' npm ci filled it), never the
    // registry; the client has no dependencies of its own.
    const env = { ...process.env, npm_config_offline: "true", npm_config_audit: "false", npm_config_fund: "false", npm_config_loglevel: "error" };
    const { version } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
    for (const line of installLines()) {
      assert.ok(!line.includes("/path/to/") || line.includes(`oauth-callback-client-${version}.tgz`),
        `the README installs a tarball of another version than ${version}: ${line}`);
      execFileSync("sh", ["-c", line.replaceAll("/path/to/", `${root}/`)], { cwd: root, env, stdio: ["ignore", "ignore", "inherit"] });
    }

    const out = execFileSync("node", ["--input-type=module", "-e",
      `import * as c from "oauth-callback-client"; console.log([typeof c.waitForCallback, typeof c.register, typeof c.ProviderError].join(","));`],
      { cwd: project, encoding: "utf8" });
    assert.equal(out.trim(), "function,function,function");
    const types = readFileSync(join(project, "node_modules", "oauth-callback-client", "dist", "index.d.ts"), "utf8");
    assert.match(types, /waitForCallback/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
