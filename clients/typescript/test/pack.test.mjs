// The package a user installs: npm pack (whose prepack builds dist) into a
// tarball, installed into a scratch project as the README says, and
// imported there. A pack without a build used to make a package without
// dist, and importing it failed with ERR_MODULE_NOT_FOUND.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, cpSync, symlinkSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");

test("the packed package installs into another project and imports", () => {
  const scratch = mkdtempSync(join(tmpdir(), "ocs-ts-pack-"));
  try {
    // A copy of the package without dist (so the pack itself must build
    // it, by prepack), beside the scenarios that use this one's dist.
    const copy = join(scratch, "package");
    mkdirSync(copy);
    for (const f of ["package.json", "package-lock.json", "tsconfig.json", "README.md", "src"]) {
      cpSync(join(pkgDir, f), join(copy, f), { recursive: true });
    }
    symlinkSync(join(pkgDir, "node_modules"), join(copy, "node_modules")); // typescript, for the build
    const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", scratch], { cwd: copy, encoding: "utf8" })
      .trim().split("\n").pop();
    const { version } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
    assert.equal(name, `oauth-callback-client-${version}.tgz`);

    const project = join(scratch, "mcp-server");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "mcp-server", private: true, type: "module" }));
    // The client has no dependencies, so this needs no registry.
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", join(scratch, name)], { cwd: project });
    const out = execFileSync("node", ["--input-type=module", "-e",
      `import * as c from "oauth-callback-client"; console.log([typeof c.waitForCallback, typeof c.register, typeof c.ProviderError].join(","));`],
      { cwd: project, encoding: "utf8" });
    assert.equal(out.trim(), "function,function,function");
    const types = readFileSync(join(project, "node_modules", "oauth-callback-client", "dist", "index.d.ts"), "utf8");
    assert.match(types, /waitForCallback/);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
