// The OAuth provider (Microsoft Entra ID, or any OpenID provider) as this MCP
// server's own OAuth client: the authorization URL with PKCE, the code
// exchanged at the token endpoint, the person's profile from userinfo. The
// relay only ever carries the code; tokens go from the provider to here.

import { createHash, randomBytes } from "node:crypto";

export interface ProviderConfig {
  /** Entra ID: https://login.microsoftonline.com/<tenant>/v2.0 */
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  /** The relay's public /callback, registered at the provider. */
  redirectUri: string;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
}

export interface Profile {
  sub: string;
  name?: string;
  email?: string;
  preferred_username?: string;
}

const b64url = (buf: Buffer) => buf.toString("base64url");

export class Provider {
  private discovery?: Promise<Discovery>;

  constructor(readonly config: ProviderConfig) {}

  private endpoints(): Promise<Discovery> {
    this.discovery ??= fetchJSON<Discovery>(`${this.config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`).catch((err) => {
      this.discovery = undefined; // ask again next time
      throw err;
    });
    return this.discovery;
  }

  /** A state, a PKCE verifier, and the authorization URL that carries both. */
  async authorization(): Promise<{ state: string; verifier: string; url: string; issuer: string }> {
    const { authorization_endpoint, issuer } = await this.endpoints();
    const state = b64url(randomBytes(32));
    const verifier = b64url(randomBytes(48));
    const url = new URL(authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: this.config.clientId,
      response_type: "code",
      redirect_uri: this.config.redirectUri,
      scope: this.config.scope,
      state,
      code_challenge: b64url(createHash("sha256").update(verifier).digest()),
      code_challenge_method: "S256",
    }).toString();
    return { state, verifier, url: url.toString(), issuer };
  }

  /** Exchanges the code (with its verifier) for tokens, and reads who signed in. */
  async exchange(code: string, verifier: string): Promise<Profile> {
    const { token_endpoint, userinfo_endpoint } = await this.endpoints();
    // client_secret_basic (RFC 6749 2.3.1: each part form-encoded first).
    const basic = Buffer.from(`${encodeURIComponent(this.config.clientId)}:${encodeURIComponent(this.config.clientSecret)}`).toString("base64");
    const tokens = await fetchJSON<{ access_token: string }>(token_endpoint, {
      method: "POST",
      headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: this.config.redirectUri,
        code_verifier: verifier,
      }),
    });
    // Keep tokens you need later under the person's MCP identity, encrypted;
    // this example uses the access token once, here.
    return fetchJSON<Profile>(userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  }
}

async function fetchJSON<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) {
    throw new Error(`${init?.method ?? "GET"} ${new URL(url).pathname} at the provider: ${res.status} ${(await res.text()).slice(0, 200)}`);
  }
  return (await res.json()) as T;
}
