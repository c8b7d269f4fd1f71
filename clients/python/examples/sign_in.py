"""A whole sign-in against a running oauth-callback-server, in one command.

What it needs: the service, started with ``make run`` in the repository
(http://localhost:8000; another address in CALLBACK_SERVICE_URL, and the
API token in CALLBACK_SERVICE_TOKEN if the service has
OAUTH_CALLBACK_API_TOKENS), and this client installed (README: Install).
From the repository's root:

    .venv/bin/python clients/python/examples/sign_in.py

It plays the MCP server: it makes a state and a PKCE verifier, registers the
state with the verifier as metadata, and waits for the callback. No identity
provider takes part: standing in for one, the example itself visits
/callback with a made-up code, as the provider's redirect of the person's
browser would. The wait then hands the MCP server the code and the
verifier, which it would exchange at the provider's token endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import sys

import httpx

from oauth_callback_client import AsyncClient, CallbackError


async def sign_in(service: str, token: str | None) -> None:
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    async with AsyncClient(service, token=token) as relay:
        await relay.register(state, ttl=300, metadata={"verifier": verifier})
        print(f"MCP server: registered state {state[:8]}…; the person would now sign in at the provider "
              f"(code_challenge={challenge[:8]}…), which sends their browser back to {service}/callback")
        waiting = asyncio.create_task(relay.wait(state, timeout=60))

        code = "made-up-code-" + secrets.token_hex(4)
        print(f"identity provider (a stand-in, no real one here): redirecting to /callback with code {code}")
        async with httpx.AsyncClient() as browser:
            page = await browser.get(service + "/callback", params={"code": code, "state": state})
        print(f"browser: the callback page answered {page.status_code}")

        callback = await waiting
        got = (callback.metadata or {}).get("verifier") == verifier
        print(f"MCP server: got code {callback.auth_code}, and {'its' if got else 'NOT its'} PKCE verifier: "
              "exchange both at the provider's token endpoint")
        if callback.auth_code != code or not got:
            raise SystemExit("the callback is not the one sent")
    print("signed in")


def main() -> None:
    service = os.environ.get("CALLBACK_SERVICE_URL", "http://localhost:8000").rstrip("/")
    try:
        asyncio.run(sign_in(service, os.environ.get("CALLBACK_SERVICE_TOKEN")))
    except httpx.TransportError as e:
        sys.exit(f"no oauth-callback-server at {service} ({e}): start it with `make run` in the repository")
    except CallbackError as e:
        sys.exit(f"the sign-in failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
