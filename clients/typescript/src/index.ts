// Client of oauth-callback-server for MCP servers in TypeScript (Node ≥ 18,
// global fetch; no runtime dependencies). The API it speaks is
// docs/openapi.yaml in the server's repository; it behaves like the Python
// client (clients/python) and passes the same scenarios
// (clients/SCENARIOS.md).

/** A callback as the server hands it out (the API's field names). */
export interface Callback {
  /** null for an admin consent. */
  auth_code: string | null;
  state: string;
  iss?: string;
  /**
   * "admin_consent" for Microsoft Entra ID's admin consent (no code; its
   * tenant and scope are in params: never trust tenant for authorisation,
   * take it from a token), "authorization_code" otherwise.
   */
  kind: "authorization_code" | "admin_consent";
  /** The issuer the registration named: a present iss matched it. */
  issuer?: string;
  params: Record<string, string>;
  metadata?: unknown;
  received_at?: string;
  error: string | null;
  error_description: string | null;
}

export interface Registration {
  state: string;
  expires_at: string;
  /** The sign-in link, when authorizationUrl was given: send it in the MCP URL elicitation. */
  start_url?: string;
}

export interface Status {
  state: string;
  /** registered, started, received, taken, conflict, cancelled or unknown */
  status: string;
  expires_at: string | null;
}

/** Base of every error this client throws. */
export class CallbackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The identity provider answered with an error (access_denied, ...). */
export class ProviderError extends CallbackError {
  constructor(
    readonly code: string,
    readonly description: string | null,
    readonly callback: Callback,
  ) {
    super(`the identity provider returned ${code}${description ? `: ${description}` : ""}`);
  }
}

/** The callback was handed out before (410): each is handed out once. */
export class AlreadyRetrieved extends CallbackError {}
/** The callback went out in an answer this client never received: start the sign-in again. */
export class AnswerLost extends AlreadyRetrieved {}
/** register: the state was registered, or used, before (409). */
export class AlreadyRegistered extends CallbackError {}
/** Two different callbacks arrived for the state: nobody gets either; start again. */
export class Conflict extends CallbackError {}
/** The sign-in was cancelled (cancel). */
export class Cancelled extends CallbackError {}
/** No callback before the deadline. */
export class CallbackTimeout extends CallbackError {}
/** The server needs an API token (OAUTH_CALLBACK_API_TOKENS), or refused it. */
export class Unauthorized extends CallbackError {}
/** cancel: the state is unknown (never registered nor received, or expired). */
export class NotFound extends CallbackError {}

export interface WaitOptions {
  /** Overall deadline; default 300 000 (5 minutes). */
  timeoutMs?: number;
  token?: string;
  /** Aborting it ends the wait and closes the request in flight. */
  signal?: AbortSignal;
  /** Polling interval against a server that does not long-poll; default 2000. */
  pollIntervalMs?: number;
  /** Longest wait asked per request; default 25 (the server caps it). */
  longPollSeconds?: number;
  /** The transport; default the global fetch. */
  fetch?: typeof fetch;
}

const firstBackoffMs = 250;
const maxBackoffMs = 10_000;
const requestSlackMs = 10_000;

/**
 * Waits until the callback for state arrives and returns it; it is then gone
 * from the server. Long-polls, falls back to polling, retries transport
 * errors, 429 and 5xx with backoff (Retry-After when given). Throws
 * ProviderError, AlreadyRetrieved (AnswerLost), Conflict, Cancelled,
 * Unauthorized, CallbackTimeout, or the signal's reason when it aborts.
 */
export async function waitForCallback(baseUrl: string, state: string, options: WaitOptions = {}): Promise<Callback> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  const longPoll = options.longPollSeconds ?? 25;
  const deadline = Date.now() + timeoutMs;
  let backoff = firstBackoffMs;
  let lost = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new CallbackTimeout(`no callback for the state within ${timeoutMs} ms`);
    }
    const wait = Math.floor(Math.min(longPoll * 1000, remaining) / 1000);
    let resp: Response;
    try {
      resp = await request("GET", url(baseUrl, "/api/callback/", state), {
        token: options.token,
        fetch: options.fetch,
        wait,
        signal: options.signal,
        timeoutMs: Math.min(wait * 1000 + requestSlackMs, remaining + 1000),
      });
    } catch (e) {
      if (options.signal?.aborted) throw options.signal.reason;
      lost = true; // the server may have answered with the code
      await sleep(Math.min(backoff, Math.max(deadline - Date.now(), 0)), options.signal);
      backoff = Math.min(backoff * 2, maxBackoffMs);
      continue;
    }
    const decision = await decide(resp, lost, pollIntervalMs, backoff);
    if ("callback" in decision) return decision.callback;
    backoff = decision.failed ? Math.min(backoff * 2, maxBackoffMs) : firstBackoffMs;
    await sleep(Math.min(decision.delayMs, Math.max(deadline - Date.now(), 0)), options.signal);
  }
}

export interface RegisterOptions {
  ttlSeconds?: number;
  metadata?: unknown;
  /** Makes a sign-in link: the answer carries start_url. */
  authorizationUrl?: string;
  returnUrl?: string;
  /**
   * The authorization server the callback must come from (RFC 9207): the
   * service refuses a callback whose iss is another, and keeps waiting.
   */
  issuer?: string;
  token?: string;
  fetch?: typeof fetch;
}

/** What status and cancel take. */
export interface RequestAuth {
  token?: string;
  fetch?: typeof fetch;
}

/** Registers state before the sign-in; with authorizationUrl, returns the start URL too. */
export async function register(baseUrl: string, state: string, options: RegisterOptions = {}): Promise<Registration> {
  const body: Record<string, unknown> = {};
  if (options.ttlSeconds !== undefined) body.ttl = Math.floor(options.ttlSeconds);
  if (options.metadata !== undefined) body.metadata = options.metadata;
  if (options.authorizationUrl !== undefined) body.authorization_url = options.authorizationUrl;
  if (options.returnUrl !== undefined) body.return_url = options.returnUrl;
  if (options.issuer !== undefined) body.issuer = options.issuer;
  const resp = await request("PUT", url(baseUrl, "/api/callback/", state), { token: options.token, fetch: options.fetch, body });
  if (resp.status === 201) return (await resp.json()) as Registration;
  if (resp.status === 401) throw new Unauthorized(await message(resp));
  if (resp.status === 409) throw new AlreadyRegistered("state already registered or used");
  throw new CallbackError(`register: ${resp.status}: ${await message(resp)}`);
}

/** Where the sign-in for state stands; never the code. */
export async function status(baseUrl: string, state: string, options: RequestAuth = {}): Promise<Status> {
  const resp = await request("GET", url(baseUrl, "/api/status/", state), options);
  if (resp.status === 200) return (await resp.json()) as Status;
  if (resp.status === 401) throw new Unauthorized(await message(resp));
  throw new CallbackError(`status: ${resp.status}: ${await message(resp)}`);
}

/** Cancels the sign-in: a later callback, and any wait, get Cancelled. */
export async function cancel(baseUrl: string, state: string, options: RequestAuth = {}): Promise<void> {
  const resp = await request("DELETE", url(baseUrl, "/api/callback/", state), options);
  if (resp.status === 204) return;
  if (resp.status === 404) throw new NotFound(await message(resp));
  if (resp.status === 401) throw new Unauthorized(await message(resp));
  if (resp.status === 410) {
    const { reason, text } = await reasonOf(resp);
    if (reason === "conflict") throw new Conflict(text);
    if (reason === "cancelled") throw new Cancelled(text);
    throw new AlreadyRetrieved(text);
  }
  throw new CallbackError(`cancel: ${resp.status}: ${await message(resp)}`);
}

export interface ClientOptions {
  token?: string;
  /** The transport; default the global fetch. */
  fetch?: typeof fetch;
  pollIntervalMs?: number;
  longPollSeconds?: number;
}

/**
 * The service at baseUrl with its API token and transport, as the Go and
 * Python clients hold them: the functions above, without repeating them.
 */
export class Client {
  constructor(
    readonly baseUrl: string,
    private readonly options: ClientOptions = {},
  ) {}

  /** waitForCallback, with this client's settings. */
  wait(state: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Callback> {
    return waitForCallback(this.baseUrl, state, { ...this.options, ...options });
  }

  /** register, with this client's token and transport. */
  register(state: string, options: Omit<RegisterOptions, "token" | "fetch"> = {}): Promise<Registration> {
    return register(this.baseUrl, state, { ...options, token: this.options.token, fetch: this.options.fetch });
  }

  status(state: string): Promise<Status> {
    return status(this.baseUrl, state, { token: this.options.token, fetch: this.options.fetch });
  }

  cancel(state: string): Promise<void> {
    return cancel(this.baseUrl, state, { token: this.options.token, fetch: this.options.fetch });
  }
}

type Decision = { callback: Callback } | { delayMs: number; failed: boolean };

async function decide(resp: Response, lost: boolean, pollIntervalMs: number, backoff: number): Promise<Decision> {
  if (resp.status === 200) {
    const cb = (await resp.json()) as Callback;
    cb.params ??= {};
    cb.kind ??= "authorization_code"; // a server from before kind
    if (cb.error) throw new ProviderError(cb.error, cb.error_description, cb);
    return { callback: cb };
  }
  if (resp.status === 404) {
    await resp.body?.cancel();
    const granted = (resp.headers.get("Preference-Applied") ?? "").startsWith("wait=");
    return { delayMs: granted ? 0 : pollIntervalMs, failed: false };
  }
  if (resp.status === 410) {
    const { reason, text } = await reasonOf(resp);
    if (reason === "conflict") throw new Conflict(text);
    if (reason === "cancelled") throw new Cancelled(text);
    if (lost) throw new AnswerLost("the callback was handed out in an answer that was lost; start the sign-in again");
    throw new AlreadyRetrieved(text);
  }
  if (resp.status === 401) throw new Unauthorized(await message(resp));
  if (resp.status === 429 || resp.status >= 500) {
    await resp.body?.cancel();
    const after = resp.headers.get("Retry-After") ?? "";
    return { delayMs: /^\d+$/.test(after) ? Number(after) * 1000 : backoff, failed: true };
  }
  throw new CallbackError(`${resp.status}: ${await message(resp)}`);
}

interface RequestOptions {
  token?: string;
  fetch?: typeof fetch;
  wait?: number;
  body?: unknown;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** One request; aborted by the caller's signal or its own timeout. */
async function request(method: string, target: string, o: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = {};
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  if (o.wait && o.wait > 0) headers.Prefer = `wait=${o.wait}`;
  if (o.body !== undefined) headers["Content-Type"] = "application/json";
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal?.reason);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = o.timeoutMs ? setTimeout(() => controller.abort(new Error("request timed out")), o.timeoutMs) : undefined;
  try {
    return await (o.fetch ?? fetch)(target, {
      method,
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
      signal: controller.signal,
    });
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", onAbort);
  }
}

function url(baseUrl: string, path: string, state: string): string {
  return baseUrl.replace(/\/+$/, "") + path + encodeURIComponent(state);
}

async function reasonOf(resp: Response): Promise<{ reason: string; text: string }> {
  try {
    const b = (await resp.json()) as { reason?: string; message?: string };
    return { reason: b.reason ?? "", text: b.message ?? resp.statusText };
  } catch {
    return { reason: "", text: resp.statusText };
  }
}

async function message(resp: Response): Promise<string> {
  return (await reasonOf(resp)).text;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
