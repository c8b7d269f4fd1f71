// An MCP server (streamable HTTP, protocol revision 2026-07-28) with one tool
// that needs the person's sign-in at an OAuth provider. Run it as many
// replicas as you like behind any load balancer: between the rounds of a
// tool call the replicas share nothing but the relay and a key.
//
// Round one (any replica): register a state with the relay, bound to a
// sign-in link, and answer input_required with a URL-mode elicitation of the
// link and a sealed requestState naming the state.
// Round two and on (any replica): long-poll the relay for the code; when it
// is there, exchange it at the provider and answer; when not yet, answer
// input_required again with the same requestState, and the client retries.

import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { hostname } from "node:os";

import {
  type AuthInfo,
  bearerAuthChallengeResponse,
  type CallToolResult,
  createMcpHandler,
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  McpServer,
  OAuthError,
  OAuthErrorCode,
  type ServerContext,
  verifyBearerToken,
} from "@modelcontextprotocol/server";
import { originValidation, toNodeHandler } from "@modelcontextprotocol/node";

import { Provider } from "./provider.js";
import { cancel, type RelayConfig, register, waitForCode } from "./relay.js";

// --- settings: all from the environment, all checked at start ---------------

const missing: string[] = [];
function setting(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") missing.push(name);
  return value ?? "";
}

const replica = setting("MCP_REPLICA", hostname());
const relay: RelayConfig = { url: setting("RELAY_URL").replace(/\/$/, ""), token: process.env.RELAY_TOKEN || undefined };
const provider = new Provider({
  issuer: setting("OAUTH_ISSUER"),
  clientId: setting("OAUTH_CLIENT_ID"),
  clientSecret: setting("OAUTH_CLIENT_SECRET"),
  scope: setting("OAUTH_SCOPE", "openid profile email"),
  redirectUri: setting("OAUTH_REDIRECT_URI"),
});
// One key for every replica: a requestState sealed by one opens on another.
const stateKey = setting("MCP_STATE_KEY");
const usersSetting = setting("MCP_USERS");
const signInSeconds = Number(setting("SIGN_IN_SECONDS", "300"));
const waitSeconds = Number(setting("RELAY_WAIT_SECONDS", "25"));
const allowedOrigins = (process.env.MCP_ALLOWED_ORIGINS ?? "").split(",").filter(Boolean);
const wrong = missing.map((name) => `${name} is not set`);
if (stateKey && Buffer.byteLength(stateKey) < 32) wrong.push("MCP_STATE_KEY must be at least 32 bytes");
if (usersSetting && !usersSetting.split(",").every((entry) => /^[^=]+=.{16,}$/.test(entry))) {
  wrong.push("MCP_USERS must be user=token,… with tokens of 16 characters or more");
}
for (const [name, value] of [["SIGN_IN_SECONDS", signInSeconds], ["RELAY_WAIT_SECONDS", waitSeconds]] as const) {
  if (!(value > 0)) wrong.push(`${name} must be a number of seconds`);
}
if (wrong.length > 0) {
  console.error(`${wrong.join("\n")}\n(README.md lists the settings)`);
  process.exit(2);
}

/** One JSON line per event on stdout: what an operator (and the e2e test) reads. */
function log(event: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), replica, event, ...fields }));
}

// --- who is calling: MCP authorization ---------------------------------------

// Stands in for your MCP authorization server: MCP_USERS="alice=<token>,bob=<token>".
// In production, verify your authorization server's access tokens here
// (a JWT's signature, audience and expiry) and take the user from `sub`.
const digest = (token: string) => createHash("sha256").update(token).digest();
const users = usersSetting.split(",").map((entry) => {
  const [user, token] = entry.split("=", 2);
  return { user, token: digest(token ?? "") };
});
const tokenVerifier = {
  async verifyAccessToken(token: string): Promise<AuthInfo> {
    const presented = digest(token);
    const found = users.find((u) => timingSafeEqual(u.token, presented));
    if (!found) throw new OAuthError(OAuthErrorCode.InvalidToken, "unknown token");
    return { token, clientId: "mcp-client", scopes: [], expiresAt: Math.floor(Date.now() / 1000) + 3600, extra: { user: found.user } };
  },
};

const userOf = (ctx: ServerContext) => String(ctx.http?.authInfo?.extra?.user ?? "");

// --- the sign-in, across rounds -----------------------------------------------

/** What requestState carries between rounds: the relay's state only, never a code or verifier. */
interface Pending {
  state: string;
}

// Signed and bound to the user: a requestState another user presents, or
// one edited or expired, is refused before the tool runs.
const codec = createRequestStateCodec<Pending>({ key: stateKey, ttlSeconds: signInSeconds, bind: userOf });

/** Aborted on SIGTERM: waits in flight end, and their rounds ask the client to retry elsewhere. */
const shutdown = new AbortController();

const stateHash = (state: string) => createHash("sha256").update(state).digest("hex").slice(0, 12);

async function whoami(ctx: ServerContext) {
  const user = userOf(ctx);
  const pending = ctx.mcpReq.requestState<Pending>();

  if (pending === undefined) {
    let auth, startUrl;
    try {
      auth = await provider.authorization();
      startUrl = await register(relay, auth.state, {
        authorizationUrl: auth.url,
        issuer: auth.issuer,
        metadata: { verifier: auth.verifier },
        ttlSeconds: signInSeconds,
      });
    } catch (err) {
      log("sign-in not started", { user, message: String(err) });
      return toolError(`The sign-in could not start: ${err instanceof Error ? err.message : err}.`);
    }
    log("sign-in started", { user, state_hash: stateHash(auth.state) });
    return inputRequired({
      inputRequests: {
        // The relay's link, never the provider's URL: only the browser that
        // opens it first can complete this sign-in.
        sign_in: inputRequired.elicitUrl({ message: "Sign in to the provider to let this server read your profile.", url: startUrl }),
      },
      requestState: await codec.mint({ state: auth.state }, ctx),
    });
  }

  const answer = inputResponse(ctx.mcpReq.inputResponses, "sign_in");
  if (answer.kind === "elicit" && answer.action !== "accept") {
    await cancel(relay, pending.state);
    log("sign-in declined", { user, state_hash: stateHash(pending.state) });
    return toolError("You declined the sign-in.");
  }

  log("waiting", { user, state_hash: stateHash(pending.state) });
  const outcome = await waitForCode(relay, pending.state, waitSeconds, AbortSignal.any([ctx.mcpReq.signal, shutdown.signal]));
  if (outcome.kind === "pending") {
    log(shutdown.signal.aborted ? "released on shutdown" : "still waiting", { user, state_hash: stateHash(pending.state) });
    return inputRequired({ requestState: await codec.mint(pending, ctx) });
  }
  if (outcome.kind === "failed") {
    log("sign-in failed", { user, state_hash: stateHash(pending.state), reason: outcome.reason });
    return toolError(`The sign-in did not complete: ${outcome.reason}.`);
  }
  let profile;
  try {
    profile = await provider.exchange(outcome.code, outcome.metadata.verifier ?? "");
  } catch (err) {
    log("exchange failed", { user, state_hash: stateHash(pending.state), message: String(err) });
    return toolError(`The provider did not accept the sign-in: ${err instanceof Error ? err.message : err}.`);
  }
  log("signed in", { user, state_hash: stateHash(pending.state) });
  const who = [profile.name, profile.email ?? profile.preferred_username].filter(Boolean).join(", ");
  return { content: [{ type: "text", text: `Signed in as ${who} (subject ${profile.sub}).` }] } satisfies CallToolResult;
}

function toolError(text: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text }] };
}

function buildServer(): McpServer {
  const server = new McpServer(
    { name: "mcp-server-typescript-example", version: "0.0.0" },
    { capabilities: { tools: {} }, requestState: { verify: codec.verify } },
  );
  server.registerTool(
    "whoami",
    {
      title: "Who am I at the provider",
      description: "Signs you in at the OAuth provider (a link to open in your browser) and says who you are there.",
    },
    whoami,
  );
  return server;
}

// --- HTTP ------------------------------------------------------------------------

const mcp = createMcpHandler(buildServer, { onerror: (err) => log("error", { message: err.message }) });
const serveMcp = toNodeHandler(mcp);
// MCP clients that are not browsers send no Origin; a browser page's request is refused unless listed.
const checkOrigin = originValidation(allowedOrigins);

const http = createServer(async (req, res) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/readyz") {
    res.writeHead(shutdown.signal.aborted ? 503 : 200).end();
    return;
  }
  if (path !== "/mcp") {
    res.writeHead(404).end();
    return;
  }
  if (!checkOrigin(req, res)) return;
  try {
    (req as IncomingMessage & { auth?: AuthInfo }).auth = await verifyBearerToken(req.headers.authorization, { verifier: tokenVerifier });
  } catch (err) {
    const refusal = bearerAuthChallengeResponse(err);
    res.writeHead(refusal.status, Object.fromEntries(refusal.headers)).end(await refusal.text());
    return;
  }
  await serveMcp(req, res);
});

// LISTEN_FDS=1: a socket handed over as fd 3 (systemd, or the e2e test);
// otherwise PORT, 3000 by default.
if (process.env.LISTEN_FDS === "1") {
  http.listen({ fd: 3 }, () => log("listening", { fd: 3 }));
} else {
  const port = Number(process.env.PORT ?? 3000);
  http.listen(port, () => log("listening", { port }));
}

process.once("SIGTERM", () => {
  log("shutting down");
  shutdown.abort();
  // Waits in flight answer input_required at once; once every response is
  // written, stop. The client's next retry reaches another replica.
  http.close(() => {
    void mcp.close().then(() => process.exit(0));
  });
  http.closeIdleConnections();
});
