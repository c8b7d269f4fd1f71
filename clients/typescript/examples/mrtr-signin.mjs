// A sign-in inside an MCP tool call, as the MCP revision of 2026-07-28 has
// it: multi round-trip requests, with the retry on any replica of the MCP
// server. The same flow as clients/python/examples/mrtr_signin.py, which
// says what goes where; test/scenarios.test.mjs runs begin and resume
// against the real service, the two rounds through two Client instances on
// two replicas.
//
// What it needs: the service with sign-in links on, which takes four
// settings: OAUTH_CALLBACK_PUBLIC_URL (where browsers reach the service: the
// link and the redirect URI start there), OAUTH_CALLBACK_AUTHORIZE_HOSTS
// (the provider's host, login.microsoftonline.com for Entra ID), an
// OAUTH_CALLBACK_ENCRYPTION_KEY (32+ characters: it keys the browser
// binding) and the MCP server's token in OAUTH_CALLBACK_API_TOKENS (the
// verifier comes back only to a caller with it). And the person's browser,
// which keeps the cookie the link's button sets: the callback is stored
// only with it. The client built once (it is imported by its name, which
// here is this package's dist/).
//
// Run from the repository's root (begin and resume are what an MCP server
// takes; run as a script, this file plays the MCP server, the MCP client,
// the person's browser and the provider, which it stands in for with a
// made-up code):
//
//   (cd clients/typescript && npm ci && npm run build)
//   OAUTH_CALLBACK_PUBLIC_URL=http://localhost:8000 OAUTH_CALLBACK_AUTHORIZE_HOSTS=login.example.com \
//     OAUTH_CALLBACK_ENCRYPTION_KEY=dev-only-key-0123456789abcdef0123 OAUTH_CALLBACK_API_TOKENS=mail=dev-only-token-0123456789 make run
//   CALLBACK_SERVICE_TOKEN=dev-only-token-0123456789 node clients/typescript/examples/mrtr-signin.mjs
//
// - requestState carries the relay's state and who started the sign-in,
//   sealed with the MCP server's key: never the code, never the verifier.
// - The PKCE verifier is registration metadata, returned with the callback.
// - The binding (the person who completes the flow started it): the relay's
//   sign-in link accepts the callback only from the browser that opened it,
//   and resume refuses a requestState sealed for another user.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { pathToFileURL } from "node:url";

const { Client, CallbackError, CallbackTimeout } = await importClient();

/** How long a sign-in may take, end to end; the registration lives as long. */
export const signInSeconds = 300;
/** How long a retry waits for the callback before asking for another retry. */
export const retryWaitMs = 20_000;

const b64 = (buf) => Buffer.from(buf).toString("base64url");

function seal(key, claims) {
  const body = b64(JSON.stringify(claims));
  return `${body}.${b64(createHmac("sha256", key).update(body).digest())}`;
}

function open(key, token) {
  const [body, mac = ""] = token.split(".");
  const want = createHmac("sha256", key).update(body).digest();
  const got = Buffer.from(mac, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
  const claims = JSON.parse(Buffer.from(body, "base64url").toString());
  return claims.exp > Date.now() / 1000 ? claims : null;
}

/** Round one: the InputRequiredResult of a tool call that needs a sign-in. */
export async function begin(relay, key, user, { authorize, clientId, redirectUri, scope, issuer }) {
  const state = b64(randomBytes(32));
  const verifier = b64(randomBytes(48));
  const challenge = b64(createHash("sha256").update(verifier).digest());
  const authorizationUrl = `${authorize}?${new URLSearchParams({
    client_id: clientId, response_type: "code", redirect_uri: redirectUri, scope,
    state, code_challenge: challenge, code_challenge_method: "S256",
  })}`;
  const reg = await relay.register(state, {
    ttlSeconds: signInSeconds, authorizationUrl, metadata: { verifier }, ...(issuer ? { issuer } : {}),
  });
  return {
    resultType: "input_required",
    inputRequests: {
      sign_in: {
        method: "elicitation/create",
        params: { mode: "url", url: reg.start_url, elicitationId: state, message: "Sign in to continue." },
      },
    },
    requestState: seal(key, { state, user, exp: Date.now() / 1000 + signInSeconds }),
  };
}

/**
 * Round two, on any replica: the code and its verifier once the callback is
 * there; the same requestState again while it is not; an error when the
 * state was edited, is another user's, or the sign-in failed.
 */
export async function resume(relay, key, user, requestState, { waitMs = retryWaitMs } = {}) {
  const claims = open(key, requestState);
  if (!claims || claims.user !== user) {
    return { isError: true, content: [{ type: "text", text: "This sign-in is not yours or has expired: start again." }] };
  }
  try {
    const cb = await relay.wait(claims.state, { timeoutMs: waitMs });
    // Exchange cb.auth_code with the verifier at the token endpoint here.
    return { code: cb.auth_code, verifier: cb.metadata?.verifier, issuer: cb.issuer };
  } catch (err) {
    if (err instanceof CallbackTimeout) return { resultType: "input_required", requestState };
    if (err instanceof CallbackError) {
      return { isError: true, content: [{ type: "text", text: `The sign-in did not complete: ${err.message}` }] };
    }
    throw err;
  }
}

// Both rounds against the service, with stand-ins for the MCP client, the
// person's browser and the provider (see the top of this file).
async function demo(service, token) {
  const relay = new Client(service, { token });
  const key = randomBytes(32); // the MCP server's own key, for requestState
  const asked = await begin(relay, key, "alice", {
    authorize: "https://login.example.com/authorize", clientId: "demo-app", redirectUri: `${service}/callback`, scope: "openid",
  });
  const startUrl = asked.inputRequests.sign_in.params.url;
  console.log(`round one: input_required; the MCP client shows the person the sign-in link ${startUrl}`);

  const again = await resume(relay, key, "alice", asked.requestState, { waitMs: 1000 });
  console.log(`round two, before the person is done: ${again.resultType} again`);

  // The person's browser opens the link and presses its button: the service
  // sets the binding cookie and sends it to the provider, who (standing in
  // here) sends it back to /callback with a made-up code. The cookie is
  // passed by hand: it is Secure, and a browser sends it to
  // http://localhost too.
  const pressed = await fetch(startUrl, { method: "POST", redirect: "manual" });
  await pressed.body?.cancel();
  const toProvider = new URL(pressed.headers.get("location"));
  const cookie = pressed.headers.get("set-cookie").split(";", 1)[0];
  console.log(`browser: pressed the link's button, got the binding cookie, sent to ${toProvider.host}`);
  const back = new URLSearchParams({ code: "made-up-code", state: toProvider.searchParams.get("state") });
  const page = await fetch(`${service}/callback?${back}`, { headers: { cookie } });
  await page.body?.cancel();
  console.log(`provider (a stand-in): back to /callback with a made-up code; the page answered ${page.status}`);

  const stranger = await resume(relay, key, "mallory", asked.requestState);
  console.log(`round two by another user: ${stranger.isError ? "refused" : "ACCEPTED"}`);
  const done = await resume(relay, key, "alice", asked.requestState);
  console.log(`round two, on any replica: code ${done.code} and its PKCE verifier ` +
    `${done.verifier ? "returned" : "MISSING"}: exchange them at the token endpoint`);
  if (done.code !== "made-up-code" || !done.verifier || !stranger.isError) {
    throw new Error(`the sign-in did not complete: ${JSON.stringify(done)}`);
  }
  console.log("signed in");
}

// The package by its name, or how to build it when it is not built.
async function importClient() {
  try {
    return await import("oauth-callback-client");
  } catch (err) {
    if (err.code !== "ERR_MODULE_NOT_FOUND") throw err;
    console.error("the client is not built: (cd clients/typescript && npm ci && npm run build), then run this again");
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const service = (process.env.CALLBACK_SERVICE_URL ?? "http://localhost:8000").replace(/\/+$/, "");
  try {
    await demo(service, process.env.CALLBACK_SERVICE_TOKEN);
  } catch (err) {
    if (err instanceof CallbackError) {
      console.error(`${err.name}: ${err.message} (the service needs the settings at the top of this file)`);
    } else if (err instanceof TypeError && err.message === "fetch failed") {
      console.error(`no oauth-callback-server at ${service} (${err.cause?.code ?? err.cause}): start it as the top of this file says`);
    } else {
      console.error(err);
    }
    process.exitCode = 1;
  }
}
