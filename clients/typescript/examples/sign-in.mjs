// A whole sign-in against a running oauth-callback-server, in one command.
//
// What it needs: the service, started with `make run` in the repository
// (http://localhost:8000; another address in CALLBACK_SERVICE_URL, and the
// API token in CALLBACK_SERVICE_TOKEN if the service has
// OAUTH_CALLBACK_API_TOKENS), and the client built once: the example
// imports the package by its name, as your project would, which here is
// this package's dist/. From the repository's root:
//
//   (cd clients/typescript && npm ci && npm run build)
//   node clients/typescript/examples/sign-in.mjs
//
// It plays the MCP server: it makes a state and a PKCE verifier, registers
// the state with the verifier as metadata, and waits for the callback. No
// identity provider takes part: standing in for one, the example itself
// visits /callback with a made-up code, as the provider's redirect of the
// person's browser would. The wait then hands the MCP server the code and
// the verifier, which it would exchange at the provider's token endpoint.
import { createHash, randomBytes } from "node:crypto";

const { Client, CallbackError } = await importClient();

const service = (process.env.CALLBACK_SERVICE_URL ?? "http://localhost:8000").replace(/\/+$/, "");
const b64 = (buf) => Buffer.from(buf).toString("base64url");

try {
  const relay = new Client(service, { token: process.env.CALLBACK_SERVICE_TOKEN });
  const state = b64(randomBytes(32));
  const verifier = b64(randomBytes(48));
  const challenge = b64(createHash("sha256").update(verifier).digest());
  await relay.register(state, { ttlSeconds: 300, metadata: { verifier } });
  console.log(`MCP server: registered state ${state.slice(0, 8)}…; the person would now sign in at the provider ` +
    `(code_challenge=${challenge.slice(0, 8)}…), which sends their browser back to ${service}/callback`);
  const waiting = relay.wait(state, { timeoutMs: 60_000 });

  const code = `made-up-code-${randomBytes(4).toString("hex")}`;
  console.log(`identity provider (a stand-in, no real one here): redirecting to /callback with code ${code}`);
  const page = await fetch(`${service}/callback?${new URLSearchParams({ code, state })}`);
  await page.body?.cancel();
  console.log(`browser: the callback page answered ${page.status}`);

  const callback = await waiting;
  const got = callback.metadata?.verifier === verifier;
  console.log(`MCP server: got code ${callback.auth_code}, and ${got ? "its" : "NOT its"} PKCE verifier: ` +
    "exchange both at the provider's token endpoint");
  if (callback.auth_code !== code || !got) throw new Error("the callback is not the one sent");
  console.log("signed in");
} catch (err) {
  if (err instanceof CallbackError) {
    console.error(`the sign-in failed: ${err.name}: ${err.message}`);
  } else if (err instanceof TypeError && err.message === "fetch failed") {
    console.error(`no oauth-callback-server at ${service} (${err.cause?.code ?? err.cause}): start it with \`make run\` in the repository`);
  } else {
    console.error(err);
  }
  process.exitCode = 1;
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
