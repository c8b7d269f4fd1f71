// The relay (oauth-callback-server) over its HTTP API, docs/api.md: register
// a state with a sign-in link, long-poll for its callback, cancel it. Three
// fetch calls, so that a copy of this example needs no client package; the
// project's clients (clients/typescript) do the same with retries and typed
// errors.

export interface RelayConfig {
  /** The relay's base URL as this server reaches it, like http://oauth-callback-server:8000. */
  url: string;
  /** The relay's API token for this MCP server (OAUTH_CALLBACK_API_TOKENS), if it has one. */
  token?: string;
}

export interface Registration {
  authorizationUrl: string;
  /** The authorization server that must have issued the callback (RFC 9207). */
  issuer: string;
  /** Returned with the callback, to this server only: the PKCE verifier rides here. */
  metadata: Record<string, string>;
  ttlSeconds: number;
}

/** What a long-poll found: the code, nothing yet, or the end of this sign-in. */
export type Outcome =
  | { kind: "code"; code: string; metadata: Record<string, string> }
  | { kind: "pending" }
  | { kind: "failed"; reason: string };

function headers(relay: RelayConfig): Record<string, string> {
  return relay.token ? { authorization: `Bearer ${relay.token}` } : {};
}

const stateURL = (relay: RelayConfig, state: string) => `${relay.url}/api/callback/${encodeURIComponent(state)}`;

/** Registers state and returns the sign-in link (start_url) to send the person to. */
export async function register(relay: RelayConfig, state: string, reg: Registration): Promise<string> {
  const res = await fetch(stateURL(relay, state), {
    method: "PUT",
    headers: { ...headers(relay), "content-type": "application/json" },
    body: JSON.stringify({
      ttl: `${reg.ttlSeconds}s`,
      authorization_url: reg.authorizationUrl,
      issuer: reg.issuer,
      metadata: reg.metadata,
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { start_url?: string; message?: string };
  if (res.status !== 201 || !body.start_url) {
    throw new Error(`the relay refused the registration: ${res.status} ${body.message ?? ""}`.trim());
  }
  return body.start_url;
}

/**
 * Waits up to waitSeconds for the callback, on whichever relay replica
 * answers. Anything short of an answer (a network error, a 5xx, the signal)
 * is "pending": the MCP client retries and the next round asks again.
 */
export async function waitForCode(relay: RelayConfig, state: string, waitSeconds: number, signal: AbortSignal): Promise<Outcome> {
  let res: Response;
  try {
    res = await fetch(`${stateURL(relay, state)}?wait=${waitSeconds}s`, { headers: headers(relay), signal });
  } catch {
    return { kind: "pending" };
  }
  const body = (await res.json().catch(() => ({}))) as {
    auth_code?: string | null;
    error?: string | null;
    error_description?: string | null;
    metadata?: Record<string, string>;
    message?: string;
    reason?: string;
  };
  if (res.status === 200 && body.auth_code) {
    return { kind: "code", code: body.auth_code, metadata: body.metadata ?? {} };
  }
  if (res.status === 200) {
    return { kind: "failed", reason: `the provider answered ${body.error}${body.error_description ? `: ${body.error_description}` : ""}` };
  }
  // 404: not yet. 429 and 5xx: the relay is busy or restarting; ask again.
  if (res.status === 404 || res.status === 429 || res.status >= 500) return { kind: "pending" };
  // 410: taken, cancelled, conflicted or expired, so never coming; 401 and
  // 400: this server is misconfigured, which waiting does not mend.
  return { kind: "failed", reason: `the relay answered ${res.status}: ${body.message ?? body.reason ?? "no reason given"}` };
}

/** Cancels the sign-in: its link stops working and a late callback is refused. */
export async function cancel(relay: RelayConfig, state: string): Promise<void> {
  await fetch(stateURL(relay, state), { method: "DELETE", headers: headers(relay) }).catch(() => undefined);
}
