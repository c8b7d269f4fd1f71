// A sign-in inside an MCP tool call, as the MCP revision of 2026-07-28 has
// it: multi round-trip requests, with the retry on any replica of the MCP
// server. The same flow as clients/python/examples/mrtr_signin.py, which
// says what goes where; test/scenarios.test.mjs runs this file against the
// real service, the two rounds through two Client instances on two replicas.
//
// - requestState carries the relay's state and who started the sign-in,
//   sealed with the MCP server's key: never the code, never the verifier.
// - The PKCE verifier is registration metadata, returned with the callback.
// - The binding (the person who completes the flow started it): the relay's
//   sign-in link accepts the callback only from the browser that opened it,
//   and resume refuses a requestState sealed for another user.
//
// In your project: import { CallbackError, CallbackTimeout } from "oauth-callback-client".
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { CallbackError, CallbackTimeout } from "../dist/index.js";

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
