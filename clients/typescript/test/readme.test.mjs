// This client's README Examples, run as written: in a copy of the
// repository without dist/ (so the example must say how to build it, and
// the README's build line must build it), offline; then each example's
// command against the service started as its block says (`make run`, with
// the settings the block puts before it).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, cpSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Replica } from "./replica.mjs";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const makeRunAddress = "http://localhost:8000";

// The ```sh blocks under each ## heading, each a list of commands (a line
// ending in a backslash continues on the next).
function sections(markdown) {
  const out = {};
  let heading = "";
  for (const part of markdown.split(/^(## .*)$/m)) {
    if (part.startsWith("## ")) {
      heading = part.slice(3).trim();
      continue;
    }
    for (const [, block] of part.matchAll(/```sh\n([\s\S]*?)```/g)) {
      (out[heading] ??= []).push(commands(block));
    }
  }
  return out;
}

const commands = (block) => block.replace(/\\\n\s*/g, "").split("\n").map((c) => c.trim()).filter(Boolean);

// Each Examples block: the service's settings (the `make run` line's
// assignments, which hold no quotes) and the other commands, in order.
function examples() {
  return sections(readFileSync(join(pkgDir, "README.md"), "utf8")).Examples.map((block) => {
    const settings = {};
    const run = [];
    for (const command of block) {
      const words = command.split(/\s+/);
      if (words.slice(-2).join(" ") === "make run") {
        assert.doesNotMatch(command, /["'$`]/, "the test splits the make run line on spaces");
        for (const w of words.slice(0, -2)) {
          const at = w.indexOf("=");
          settings[w.slice(0, at)] = w.slice(at + 1);
        }
      } else {
        run.push(command);
      }
    }
    return { block, settings, run };
  });
}

// sh -c in the copy, offline: npm uses its cache (make test-clients' npm ci
// filled it) and never the registry. Not spawnSync: the replica's front
// forwards in this process, which must keep running meanwhile.
function sh(command, cwd, env = {}) {
  const child = spawn("sh", ["-c", command], {
    cwd, stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, npm_config_offline: "true", npm_config_audit: "false", npm_config_fund: "false", ...env },
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (d) => { out.stdout += d; });
  child.stderr.setEncoding("utf8").on("data", (d) => { out.stderr += d; });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, ...out }));
  });
}

const outcome = (command, r) => `\`${command}\` exited ${r.status}:\n${r.stdout}\n${r.stderr}`;

describe("README examples", () => {
  let root;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "ocs-ts-readme-"));
    const copy = join(root, "clients", "typescript");
    mkdirSync(copy, { recursive: true });
    for (const f of ["package.json", "package-lock.json", "tsconfig.json", "README.md", "src", "examples"]) {
      cpSync(join(pkgDir, f), join(copy, f), { recursive: true });
    }
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const blocks = examples();
  const build = blocks.flatMap((b) => b.run).find((c) => c.includes("npm run build"));

  test("an example run before the build says how to build", async () => {
    assert.ok(build, "README's Examples have no build line");
    const first = blocks[0].run.find((c) => c.startsWith("node "));
    const r = await sh(first, root);
    assert.equal(r.status, 1, outcome(first, r));
    assert.ok(r.stderr.includes(build), `it should name the README's build line ${build}:\n${r.stderr}`);
  });

  for (const { settings, run } of blocks) {
    const name = run.at(-1).split("/").at(-1);
    test(`${name} signs in against make run`, async () => {
      const replica = await Replica.create({});
      // make run's settings, at the test's own address instead of :8000.
      replica.env = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, v.replaceAll(makeRunAddress, replica.url)]));
      await replica.start();
      try {
        for (const command of run) {
          const r = await sh(command, root, { CALLBACK_SERVICE_URL: replica.url });
          assert.equal(r.status, 0, outcome(command, r));
          if (command.startsWith("node ") || command.includes(" node ")) {
            assert.equal(r.stdout.trim().split("\n").at(-1), "signed in", outcome(command, r));
          }
        }
      } finally {
        await replica.close();
      }
    });
  }

  test("the examples say how to run them as the README does", () => {
    for (const { block, run } of blocks) {
      const file = run.at(-1).split(" ").at(-1);
      const source = readFileSync(join(pkgDir, "..", "..", file), "utf8");
      const comments = source.split("\n").filter((l) => l.startsWith("//")).map((l) => l.replace(/^\/\/ ?/, ""));
      const header = commands(comments.join("\n"));
      for (const command of block) {
        assert.ok(header.includes(command), `${file} does not say \`${command}\` at its top`);
      }
    }
  });
});
