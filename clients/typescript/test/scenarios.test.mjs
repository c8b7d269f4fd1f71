// The shared scenarios (clients/SCENARIOS.md) against the real service: the
// binary in $OCS_BIN (make test-clients builds it), on the memory store and
// on a real redis-server with two replicas (callbacks on A, waits on B).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

import {
  waitForCallback, register, status, cancel, Client,
  ProviderError, AlreadyRegistered, AlreadyRetrieved, Conflict, Cancelled, CallbackTimeout, Unauthorized, NotFound,
} from "../dist/index.js";
import { Replica, until } from "./replica.mjs";

// The service is shared by two apps, as by two MCP servers: the tests'
// client is mail (TOKEN), files is the other.
const TOKEN = "tok-typescript-client-0123456789";
const FILES_TOKEN = "tok-typescript-client-files-app-0123456789";
const haveRedis = spawnSync("redis-server", ["--version"]).status === 0;
if (!haveRedis && process.env.CI) throw new Error("redis-server is missing (CI)");

// settled never rejects: a wait that fails while the test is still busy
// (cancelling, restarting) is not an unhandled rejection.
const settled = (p) => p.then((value) => ({ value }), (error) => ({ error }));
const newState = () => randomBytes(32).toString("base64url");



function settings(extra) {
  return {
    OAUTH_CALLBACK_API_TOKENS: `mail=${TOKEN},files=${FILES_TOKEN}`,
    OAUTH_CALLBACK_RATE_LIMIT_CALLBACK: "0",
    OAUTH_CALLBACK_RATE_LIMIT_API: "0",
    OAUTH_CALLBACK_ENCRYPTION_KEY: "typescript-client-test-secret-0123456789",
    OAUTH_CALLBACK_AUTHORIZE_HOSTS: "login.example.com",
    OAUTH_CALLBACK_LONG_POLL_RECHECK: "10m", // only a wake-up delivers in time
    ...extra,
  };
}

async function startService(store, extra = {}) {
  const svc = { store, extra: [] };
  if (store === "memory") {
    svc.a = svc.b = await Replica.create({});
    svc.a.env = settings({ OAUTH_CALLBACK_PUBLIC_URL: svc.a.url, ...extra });
    await svc.a.start();
  } else {
    // Redis on a unix socket of the test's own: no TCP port at all.
    const redisSock = join(mkdtempSync(join(tmpdir(), "ocs-ts-redis-")), "redis.sock");
    const redis = spawn("redis-server", ["--port", "0", "--unixsocket", redisSock, "--save", "",
      "--appendonly", "no", "--dir", dirname(redisSock)], { stdio: "ignore" });
    svc.extra.push(redis);
    await until(() => new Promise((resolve) => {
      const c = connect(redisSock, () => { c.end(); resolve(true); });
      c.on("error", () => resolve(false));
    }), "redis-server listening");
    svc.a = await Replica.create({});
    svc.b = await Replica.create({});
    svc.a.env = svc.b.env = settings({ OAUTH_CALLBACK_REDIS_URL: `unix://${redisSock}`,
      OAUTH_CALLBACK_PUBLIC_URL: svc.a.url, ...extra });
    await svc.a.start();
    await svc.b.start();
  }
  svc.callback = (state, params) => fetch(`${svc.a.url}/callback?${new URLSearchParams({ state, ...params })}`);
  svc.metric = async (series) => {
    const body = await (await fetch(svc.b.url + "/metrics", { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    const line = body.split("\n").find((l) => l.startsWith(series + " "));
    return line ? Number(line.split(" ")[1]) : 0;
  };
  svc.waiters = () => svc.metric("oauth_callback_waiters");
  // Until replica b has answered a take with 404.
  svc.waitForFirstPoll = () => until(async () => (await svc.metric('oauth_callback_takes_total{code="404"}')) >= 1, "a first poll");
  svc.waitForWaiters = (n) => until(async () => (await svc.waiters()) === n, `the server holding ${n} long-polls`);
  svc.stop = async () => {
    await svc.a.close();
    if (svc.b !== svc.a) await svc.b.close();
    for (const p of svc.extra) {
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await exited;
    }
  };
  return svc;
}

const opts = { token: TOKEN, timeoutMs: 30_000 };

for (const store of ["memory", "redis"]) {
  describe(store, { skip: store === "redis" && !haveRedis ? "redis-server is not installed" : false }, () => {
    let svc;
    before(async () => { svc = await startService(store); });
    after(async () => { await svc?.stop(); });

    test("scenario takes_a_callback_stored_before_the_wait", async () => {
      const state = newState();
      assert.equal((await svc.callback(state, { code: "c-1", session_state: "ss" })).status, 200);
      const cb = await waitForCallback(svc.b.url, state, opts);
      assert.deepEqual([cb.auth_code, cb.state, cb.params.session_state], ["c-1", state, "ss"]);
    });

    test("scenario long_poll_wakes_on_the_callback", async (t) => {
      const latencies = [];
      for (let i = 0; i < 20; i++) {
        const state = newState();
        let finished = 0;
        const waiting = waitForCallback(svc.b.url, state, opts).then((cb) => { finished = performance.now(); return cb; });
        await svc.waitForWaiters(1);
        const sent = performance.now();
        assert.equal((await svc.callback(state, { code: "woken" })).status, 200);
        assert.equal((await waiting).auth_code, "woken");
        latencies.push(finished - sent);
      }
      latencies.sort((x, y) => x - y);
      t.diagnostic(`typescript client, ${store}: wake latency median ${latencies[10].toFixed(1)} ms, max ${latencies[19].toFixed(1)} ms (20 waits)`);
    });

    test("scenario provider_error_is_typed", async () => {
      const state = newState();
      await register(svc.a.url, state, { token: TOKEN });
      await svc.callback(state, { error: "access_denied", error_description: "The user declined" });
      await assert.rejects(waitForCallback(svc.b.url, state, opts), (e) =>
        e instanceof ProviderError && e.code === "access_denied" && e.description === "The user declined");
    });

    test("scenario second_take_is_already_retrieved", async () => {
      const state = newState();
      await svc.callback(state, { code: "once" });
      assert.equal((await waitForCallback(svc.b.url, state, opts)).auth_code, "once");
      await assert.rejects(waitForCallback(svc.b.url, state, opts), AlreadyRetrieved);
    });

    test("scenario register_twice_is_already_registered", async () => {
      const state = newState();
      await register(svc.a.url, state, opts);
      await assert.rejects(register(svc.b.url, state, opts), AlreadyRegistered);
      const received = newState();
      await svc.callback(received, { code: "arrived" });
      await assert.rejects(register(svc.a.url, received, opts), (err) => err instanceof AlreadyRegistered && !(err instanceof AlreadyRetrieved));
    });

    test("Client holds the URL, token and transport", async () => {
      let requests = 0;
      const counting = (input, init) => { requests++; return fetch(input, init); };
      const c = new Client(svc.a.url, { token: TOKEN, fetch: counting });
      const state = newState();
      assert.equal((await c.register(state, { ttlSeconds: 300 })).state, state);
      assert.equal((await c.status(state)).status, "registered");
      await svc.callback(state, { code: "held" });
      assert.equal((await c.wait(state, { timeoutMs: 10_000 })).auth_code, "held");
      await assert.rejects(c.register(state), AlreadyRegistered);
      assert.ok(requests >= 4, `the client's transport carried ${requests} requests`);
      await assert.rejects(new Client(svc.a.url).status(state), Unauthorized);
    });

    test("scenario admin_consent_is_delivered", async () => {
      const state = newState();
      await svc.callback(state, { admin_consent: "True", tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", scope: "https://graph.microsoft.com/.default" });
      const cb = await waitForCallback(svc.b.url, state, opts);
      assert.equal(cb.kind, "admin_consent");
      assert.equal(cb.auth_code, null);
      assert.equal(cb.params.tenant, "72f988bf-86f1-41af-91ab-2d7cd011db47");
      assert.equal(cb.params.scope, "https://graph.microsoft.com/.default");
    });

    test("scenario cancel_is_an_error_with_its_subcode", async () => {
      const state = newState();
      await svc.callback(state, { error: "access_denied", error_subcode: "cancel" });
      await assert.rejects(waitForCallback(svc.b.url, state, opts), (err) =>
        err instanceof ProviderError && err.code === "access_denied" && err.callback.params.error_subcode === "cancel");
    });

    test("scenario issuer_mismatch_is_refused", async () => {
      const state = newState();
      const issuer = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
      await register(svc.a.url, state, { issuer, token: TOKEN });
      assert.equal((await svc.callback(state, { code: "mixed-up", iss: "https://evil.example" })).status, 400);
      assert.equal((await svc.callback(state, { code: "real", iss: issuer })).status, 200);
      const cb = await waitForCallback(svc.b.url, state, opts);
      assert.deepEqual([cb.auth_code, cb.iss, cb.issuer], ["real", issuer, issuer]);
    });

    test("scenario retry_on_another_instance_takes_the_sign_in", async () => {
      const mrtr = await import("../examples/mrtr-signin.mjs"); // the example docs/clients.md shows
      const key = randomBytes(32);
      const first = new Client(svc.a.url, { token: TOKEN });
      const second = new Client(svc.b.url, { token: TOKEN }); // another instance, on another replica
      const asked = await mrtr.begin(first, key, "alice", {
        authorize: "https://login.example.com/authorize", clientId: "app", redirectUri: `${svc.a.url}/callback`, scope: "openid",
      });
      assert.equal(asked.resultType, "input_required");
      const { requestState } = asked;
      // The person has not finished: the retry asks for another retry.
      assert.deepEqual(await mrtr.resume(second, key, "alice", requestState, { waitMs: 1000 }), { resultType: "input_required", requestState });
      // The person's browser: the sign-in link is a page that changes
      // nothing; its button binds the browser (the Secure cookie passed by
      // hand on plain-http loopback), and the provider sends it back.
      const startUrl = asked.inputRequests.sign_in.params.url;
      const page = await fetch(startUrl, { redirect: "manual" });
      assert.equal(page.status, 200);
      assert.equal(page.headers.get("set-cookie"), null);
      const opened = await fetch(startUrl, { method: "POST", redirect: "manual" });
      assert.equal(opened.status, 303);
      const state = new URL(opened.headers.get("location")).searchParams.get("state");
      const cookie = opened.headers.getSetCookie()[0].split(";")[0];
      const back = await fetch(`${svc.a.url}/callback?${new URLSearchParams({ code: "the-code", state })}`, { headers: { Cookie: cookie } });
      assert.equal(back.status, 200);
      // Another user, or an edited state: refused, and the code stays.
      assert.equal((await mrtr.resume(second, key, "mallory", requestState)).isError, true);
      const edited = requestState.slice(0, -2) + (requestState.endsWith("AA") ? "BB" : "AA");
      assert.equal((await mrtr.resume(second, key, "alice", edited)).isError, true);
      const done = await mrtr.resume(second, key, "alice", requestState);
      assert.equal(done.code, "the-code");
      assert.ok(done.verifier);
    });

    test("scenario conflict_is_reported", async () => {
      const state = newState();
      await svc.callback(state, { code: "first" });
      await svc.callback(state, { code: "second" });
      await assert.rejects(waitForCallback(svc.b.url, state, opts), Conflict);
    });

    test("scenario cancel_ends_the_wait", async () => {
      const state = newState();
      await register(svc.a.url, state, { token: TOKEN });
      const waiting = settled(waitForCallback(svc.b.url, state, opts));
      await svc.waitForWaiters(1);
      await cancel(svc.a.url, state, { token: TOKEN });
      const { error } = await waiting;
      assert.ok(error instanceof Cancelled, String(error));
    });

    test("scenario deadline_raises_timeout", async () => {
      const started = Date.now();
      await assert.rejects(waitForCallback(svc.b.url, newState(), { token: TOKEN, timeoutMs: 1500 }), CallbackTimeout);
      assert.ok(Date.now() - started < 10_000);
    });

    test("scenario token_is_sent_and_required", async () => {
      const state = newState();
      await svc.callback(state, { code: "tokened" });
      await assert.rejects(waitForCallback(svc.b.url, state, { timeoutMs: 5000 }), Unauthorized);
      assert.equal((await waitForCallback(svc.b.url, state, opts)).auth_code, "tokened");
    });

    test("scenario sign_in_link_register_status_cancel", async () => {
      const state = newState();
      const reg = await register(svc.a.url, state, { ttlSeconds: 300, token: TOKEN,
        authorizationUrl: `https://login.example.com/authorize?client_id=x&state=${state}&redirect_uri=${encodeURIComponent(svc.a.url + "/callback")}` });
      assert.ok(reg.start_url?.startsWith(svc.a.url + "/start/"), reg.start_url);
      assert.equal((await status(svc.b.url, state, { token: TOKEN })).status, "registered");
      await cancel(svc.b.url, state, { token: TOKEN });
      assert.equal((await status(svc.a.url, state, { token: TOKEN })).status, "cancelled");
      await assert.rejects(cancel(svc.a.url, newState(), { token: TOKEN }), NotFound);
    });

    test("scenario cancellation_leaves_no_request", async () => {
      const controller = new AbortController();
      const waiting = settled(waitForCallback(svc.b.url, newState(), { ...opts, signal: controller.signal }));
      await svc.waitForWaiters(1);
      controller.abort();
      const { error } = await waiting;
      assert.equal(error?.name, "AbortError");
      await svc.waitForWaiters(0);
    });

    if (store === "redis") {
      test("scenario survives_a_server_restart", async () => {
        const state = newState();
        const waiting = settled(waitForCallback(svc.b.url, state, opts));
        await svc.waitForWaiters(1);
        await svc.b.stop();
        await svc.b.start();
        assert.equal((await svc.callback(state, { code: "after-restart" })).status, 200);
        const { value, error } = await waiting;
        assert.equal(value?.auth_code, "after-restart", String(error));
      });
    }

    test("scenario another_apps_wait_never_gets_the_callback", async () => {
      // Issue 33: another app's long-poll, woken by the callback, took it.
      const state = newState();
      await register(svc.a.url, state, { token: TOKEN });
      const filesWait = settled(waitForCallback(svc.b.url, state, { token: FILES_TOKEN, timeoutMs: 4000 }));
      await svc.waitForWaiters(1);
      assert.equal((await svc.callback(state, { code: "mail-code" })).status, 200);
      const { value, error } = await filesWait;
      assert.ok(error instanceof CallbackTimeout, `files' waitForCallback on mail's state: ${JSON.stringify(value)}, ${error}`);
      assert.equal((await waitForCallback(svc.b.url, state, opts)).auth_code, "mail-code");
    });
  });
}

describe("a server without long-poll", () => {
  let svc;
  before(async () => { svc = await startService("memory", { OAUTH_CALLBACK_MAX_WAIT: "0" }); });
  after(async () => { await svc?.stop(); });

  test("scenario polls_a_server_without_long_poll", async () => {
    const state = newState();
    const waiting = settled(waitForCallback(svc.b.url, state, opts));
    await svc.waitForFirstPoll(); // it found nothing: the callback comes later
    assert.equal((await svc.callback(state, { code: "polled" })).status, 200);
    const { value, error } = await waiting;
    assert.equal(value?.auth_code, "polled", String(error));
    assert.equal(await svc.waiters(), 0);
  });
});
