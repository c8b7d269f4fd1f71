"""A sign-in inside an MCP tool call, as the MCP revision of 2026-07-28 has it:
multi round-trip requests, with the retry on any replica of the MCP server.

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
