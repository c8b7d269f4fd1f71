"""A sign-in inside an MCP tool call, as the MCP revision of 2026-07-28 has it:
multi round-trip requests, with the retry on any replica of the MCP server.

What it needs: the service with sign-in links on, which takes four settings:
OAUTH_CALLBACK_PUBLIC_URL (where browsers reach the service: the link and
the redirect URI start there), OAUTH_CALLBACK_AUTHORIZE_HOSTS (the
provider's host, login.microsoftonline.com for Entra ID), an
OAUTH_CALLBACK_ENCRYPTION_KEY (32+ characters: it keys the browser binding)
and the MCP server's token in OAUTH_CALLBACK_API_TOKENS (the verifier comes
back only to a caller with it). And the person's browser, which keeps the
cookie the link's button sets: the callback is stored only with it.

Run from the repository's root (``begin`` and ``resume`` are what an MCP
server takes; run as a script, it plays the MCP server, the MCP client, the
person's browser and the provider, which it stands in for with a made-up
code):

    OAUTH_CALLBACK_PUBLIC_URL=http://localhost:8000 OAUTH_CALLBACK_AUTHORIZE_HOSTS=login.example.com \
      OAUTH_CALLBACK_ENCRYPTION_KEY=dev-only-key-0123456789abcdef0123 OAUTH_CALLBACK_API_TOKENS=mail=dev-only-token-0123456789 make run
    CALLBACK_SERVICE_TOKEN=dev-only-token-0123456789 .venv/bin/python clients/python/examples/mrtr_signin.py

Round one (``begin``) registers a sign-in link with oauth-callback-server and
answers ``input_required`` with a URL-mode elicitation of the link and a
``requestState``. The MCP client shows the link and, once the person is done,
retries the same call with that ``requestState``; the retry may reach another
replica. Round two (``resume``) checks the ``requestState`` and takes the
callback from the relay, which every replica shares.

What goes where:

* ``requestState`` carries the relay's state and who started the sign-in,
  sealed with the MCP server's key (the client holds it, and a client that
  edits it must be refused): never the code, which only ever travels from
  the relay to the MCP server, and never the PKCE verifier.
* The PKCE verifier is registration metadata: the relay returns it with the
  callback, to a caller with the API token only.
* The binding the specification asks for (the person who completes the
  flow is the one who started it) is two checks: the relay's sign-in link
  accepts the callback only from the browser that opened the link, and
  ``resume`` refuses a ``requestState`` sealed for another user.

The MCP wire types are plain dicts here, so that the example depends on no
MCP SDK; ``tests/test_scenarios.py`` runs it against the real service, the
two rounds through two client instances on two replicas.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from typing import Any, Dict, Optional

from oauth_callback_client import AsyncClient, CallbackError

#: How long a sign-in may take, end to end; the relay's registration lives as long.
SIGN_IN_SECONDS = 300
#: How long a retry waits for the callback before asking the client to retry again.
RETRY_WAIT_SECONDS = 20


def _seal(key: bytes, claims: Dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(key, body, hashlib.sha256).digest()).rstrip(b"=")
    return (body + b"." + mac).decode()


def _open(key: bytes, token: str) -> Optional[Dict[str, Any]]:
    body, _, mac = token.encode().partition(b".")
    want = base64.urlsafe_b64encode(hmac.new(key, body, hashlib.sha256).digest()).rstrip(b"=")
    if not hmac.compare_digest(mac, want):
        return None
    claims = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
    return claims if claims.get("exp", 0) > time.time() else None


async def begin(relay: AsyncClient, key: bytes, user: str, authorize: str, client_id: str,
                redirect_uri: str, scope: str, issuer: Optional[str] = None) -> Dict[str, Any]:
    """Round one: the InputRequiredResult of a tool call that needs a sign-in."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    auth_url = authorize + "?" + urllib.parse.urlencode({
        "client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "scope": scope,
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
    })
    reg = await relay.register(state, ttl=SIGN_IN_SECONDS, authorization_url=auth_url,
                               metadata={"verifier": verifier}, issuer=issuer)
    return {
        "resultType": "input_required",
        "inputRequests": {
            "sign_in": {
                "method": "elicitation/create",
                "params": {"mode": "url", "url": reg.start_url, "elicitationId": state,
                           "message": "Sign in to continue."},
            },
        },
        "requestState": _seal(key, {"state": state, "user": user, "exp": time.time() + SIGN_IN_SECONDS}),
    }


async def resume(relay: AsyncClient, key: bytes, user: str, request_state: str,
                 wait: float = RETRY_WAIT_SECONDS) -> Dict[str, Any]:
    """Round two, on any replica: the code and its verifier once the callback
    is there; the same InputRequiredResult's state again while it is not; an
    error when the state was edited, is another user's, or the sign-in failed."""
    claims = _open(key, request_state)
    if claims is None or claims.get("user") != user:
        return {"isError": True, "content": [{"type": "text", "text": "This sign-in is not yours or has expired: start again."}]}
    try:
        cb = await relay.wait(claims["state"], timeout=wait)
    except TimeoutError:  # CallbackTimeout: the person has not finished; the client retries again
        return {"resultType": "input_required", "requestState": request_state}
    except CallbackError as e:  # declined, cancelled, taken elsewhere, conflicted
        return {"isError": True, "content": [{"type": "text", "text": f"The sign-in did not complete: {e}"}]}
    # Exchange cb.auth_code with the verifier at the token endpoint here; the
    # example returns them to show that they arrived.
    return {"code": cb.auth_code, "verifier": (cb.metadata or {}).get("verifier"), "issuer": cb.issuer}


async def _demo(service: str, token: Optional[str]) -> None:
    """Both rounds against the service, with stand-ins for the MCP client,
    the person's browser and the provider (see the top of this file)."""
    import httpx  # the client's own dependency

    key = secrets.token_bytes(32)  # the MCP server's own key, for requestState
    async with AsyncClient(service, token=token) as relay:
        asked = await begin(relay, key, "alice", "https://login.example.com/authorize", "demo-app",
                            service + "/callback", "openid")
        start_url = asked["inputRequests"]["sign_in"]["params"]["url"]
        print(f"round one: input_required; the MCP client shows the person the sign-in link {start_url}")

        again = await resume(relay, key, "alice", asked["requestState"], wait=1)
        print(f"round two, before the person is done: {again['resultType']} again")

        # The person's browser opens the link and presses its button: the
        # service sets the binding cookie and sends it to the provider, who
        # (standing in here) sends it back to /callback with a made-up code.
        # The cookie is passed by hand: it is Secure, and a browser sends it
        # to http://localhost too.
        async with httpx.AsyncClient() as browser:
            pressed = await browser.post(start_url)
            to_provider = urllib.parse.urlsplit(pressed.headers["location"])
            cookie = pressed.headers["set-cookie"].split(";", 1)[0]
            state = dict(urllib.parse.parse_qsl(to_provider.query))["state"]
            print(f"browser: pressed the link's button, got the binding cookie, sent to {to_provider.netloc}")
            page = await browser.get(service + "/callback", params={"code": "made-up-code", "state": state},
                                     headers={"Cookie": cookie})
            print(f"provider (a stand-in): back to /callback with a made-up code; the page answered {page.status_code}")

        stranger = await resume(relay, key, "mallory", asked["requestState"])
        print(f"round two by another user: {'refused' if stranger.get('isError') else 'ACCEPTED'}")
        done = await resume(relay, key, "alice", asked["requestState"])
        print(f"round two, on any replica: code {done.get('code')} and its PKCE verifier "
              f"{'returned' if done.get('verifier') else 'MISSING'}: exchange them at the token endpoint")
        if done.get("code") != "made-up-code" or not done.get("verifier") or not stranger.get("isError"):
            raise SystemExit(f"the sign-in did not complete: {done}")
    print("signed in")


if __name__ == "__main__":
    import asyncio
    import os
    import sys

    import httpx

    _service = os.environ.get("CALLBACK_SERVICE_URL", "http://localhost:8000").rstrip("/")
    try:
        asyncio.run(_demo(_service, os.environ.get("CALLBACK_SERVICE_TOKEN")))
    except CallbackError as e:
        sys.exit(f"{type(e).__name__}: {e} (the service needs the settings at the top of this file)")
    except httpx.TransportError as e:
        sys.exit(f"no oauth-callback-server at {_service} ({e}): start it as the top of this file says")
