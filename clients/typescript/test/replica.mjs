// The real service for the client's tests: the binary in $OCS_BIN (make
// test-clients builds it), one process per Replica, behind a front of the
// test's own.

import { spawn } from "node:child_process";
import { createServer, connect } from "node:net";

const bin = process.env.OCS_BIN;
if (!bin) throw new Error("set OCS_BIN to the built service (make test-clients does)");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(check, what, withinMs = 10_000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${withinMs} ms`);
    await sleep(5);
  }
}

// A replica behind a front the test holds for its whole life, as a
// Kubernetes Service stands before its pods: each process binds port 0 and
// says where in its log, and the front forwards to it. A port picked,
// released and reused could be taken by another test in between (Node
// cannot hold a listening socket without accepting on it, so it cannot
// hand one over as the Go and Python suites do).
export class Replica {
  static async create(env) {
    const r = new Replica(env);
    r.conns = new Set();
    r.front = createServer((c) => r.forward(c));
    await new Promise((resolve, reject) => {
      r.front.once("error", reject);
      r.front.listen(0, "127.0.0.1", resolve);
    });
    r.url = `http://127.0.0.1:${r.front.address().port}`;
    return r;
  }
  constructor(env) {
    this.env = env;
  }
  // forward pipes one connection to the running process; while none runs,
  // the connection is reset, as a Service with no ready pod would.
  forward(client) {
    this.conns.add(client);
    client.on("close", () => this.conns.delete(client));
    if (!this.backend) {
      client.destroy();
      return;
    }
    const up = connect(this.backend.port, this.backend.host);
    this.conns.add(up);
    const close = () => { client.destroy(); up.destroy(); this.conns.delete(up); };
    for (const s of [client, up]) {
      s.on("error", close);
      s.on("close", close);
    }
    client.pipe(up);
    up.pipe(client);
  }
  async start() {
    this.proc = spawn(bin, [], {
      env: { ...process.env, OAUTH_CALLBACK_HOST: "127.0.0.1", OAUTH_CALLBACK_PORT: "0",
        OAUTH_CALLBACK_DRAIN_DELAY: "0", OAUTH_CALLBACK_LOG_LEVEL: "info", OAUTH_CALLBACK_LOG_FORMAT: "json", ...this.env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const proc = this.proc;
    this.backend = await new Promise((resolve, reject) => {
      let buffered = "";
      const onData = (chunk) => {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          let entry;
          try { entry = JSON.parse(line); } catch { continue; }
          if (entry.msg === "listening") {
            proc.stdout.off("data", onData);
            proc.stdout.resume(); // the rest of the log is not needed
            const at = entry.addr.lastIndexOf(":");
            resolve({ host: entry.addr.slice(0, at), port: Number(entry.addr.slice(at + 1)) });
            return;
          }
        }
      };
      proc.stdout.setEncoding("utf8");
      proc.stdout.on("data", onData);
      proc.once("exit", (code) => reject(new Error(`the service exited (${code}) before it listened`)));
    });
    await until(async () => {
      try {
        return (await fetch(this.url + "/readyz")).status === 200;
      } catch {
        return false;
      }
    }, `${this.url} ready`);
  }
  async stop() {
    this.backend = undefined;
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGTERM");
    await exited;
  }
  async close() {
    await this.stop();
    for (const c of this.conns) c.destroy();
    await new Promise((r) => this.front.close(r));
  }
}
