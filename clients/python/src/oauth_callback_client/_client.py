"""Sync and asyncio clients of oauth-callback-server (docs/openapi.yaml).

Both share one decision per answer (``_decide``), so that they behave the
same: long-poll with ``Prefer: wait=N``, fall back to polling every
``poll_interval`` seconds when the server does not grant the wait, retry
transport errors, 429 and 5xx with backoff (``Retry-After`` when given),
and stop at the overall deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, Iterator, Optional, Union
from urllib.parse import quote

import httpx

#: Longest wait asked of the server per request (it caps it at its own
#: OAUTH_CALLBACK_MAX_WAIT, 60 s by default).
LONG_POLL = 25.0
#: Polling interval against a server that does not long-poll (the original
#: service); the field client's.
POLL_INTERVAL = 2.0
#: Backoff after a transport error or a 5xx, doubling up to MAX_BACKOFF.
FIRST_BACKOFF = 0.25
MAX_BACKOFF = 10.0
#: Added to the long-poll wait for the request's own timeout.
REQUEST_SLACK = 10.0


class CallbackError(Exception):
    """Base of every error this client raises."""


class ProviderError(CallbackError):
    """The identity provider answered with an error (access_denied, ...)."""

    def __init__(self, code: str, description: Optional[str], callback: "Callback") -> None:
        super().__init__(f"the identity provider returned {code}" + (f": {description}" if description else ""))
        self.code = code
        self.description = description
        self.callback = callback


class AlreadyRetrieved(CallbackError):
    """The callback was handed out before (410): each is handed out once."""


class AnswerLost(AlreadyRetrieved):
    """The callback was handed out in an answer this client never received
    (the connection failed mid-request): start the sign-in again."""


class AlreadyRegistered(CallbackError):
    """``register``: the state was registered, or used, before (409)."""


class Conflict(CallbackError):
    """Two different callbacks arrived for the state: nobody gets either;
    start the sign-in again."""


class Cancelled(CallbackError):
    """The sign-in was cancelled (``cancel``)."""


class CallbackTimeout(CallbackError, TimeoutError):
    """No callback before the deadline."""


class Unauthorized(CallbackError):
    """The server needs an API token (OAUTH_CALLBACK_API_TOKENS), or refused it."""


class NotFound(CallbackError):
    """``cancel``: the state is unknown (never registered nor received, or expired)."""


@dataclass(frozen=True)
class Callback:
    """A callback as the server hands it out (the API's field names)."""

    auth_code: Optional[str]
    state: str
    iss: Optional[str] = None
    params: Dict[str, str] = field(default_factory=dict)
    metadata: Any = None
    received_at: Optional[str] = None
    error: Optional[str] = None
    error_description: Optional[str] = None
    #: "authorization_code", or "admin_consent" for Microsoft Entra ID's
    #: admin consent (no code; see ``tenant`` and ``scope``).
    kind: str = "authorization_code"
    #: The issuer the registration named (``register(issuer=...)``): a
    #: present ``iss`` matched it. None when it named none.
    issuer: Optional[str] = None

    @property
    def tenant(self) -> Optional[str]:
        """The tenant an Entra ID admin consent names. Microsoft warns it must
        not be trusted for authorisation: take the tenant from a token."""
        return self.params.get("tenant")

    @property
    def scope(self) -> Optional[str]:
        """The scope an Entra ID admin consent was granted for."""
        return self.params.get("scope")


@dataclass(frozen=True)
class Registration:
    state: str
    expires_at: str
    #: The sign-in link, when ``authorization_url`` was given: send it in the
    #: MCP URL elicitation instead of the authorization URL.
    start_url: Optional[str] = None


@dataclass(frozen=True)
class Status:
    state: str
    #: registered, started, received, taken, conflict, cancelled or unknown
    status: str
    expires_at: Optional[str]


# --- One decision per answer, shared by both clients --------------------------


@dataclass(frozen=True)
class _Again:
    """Ask again after ``delay`` seconds; ``failed`` when the answer was an error."""

    delay: float
    failed: bool = False


def _decide(resp: httpx.Response, *, answer_lost: bool, poll_interval: float, backoff: float) -> Union[Callback, _Again]:
    if resp.status_code == 200:
        return _callback(resp.json())
    if resp.status_code == 404:
        granted = resp.headers.get("Preference-Applied", "").startswith("wait=")
        return _Again(0.0 if granted else poll_interval)
    if resp.status_code == 410:
        gone = _gone(resp)
        if answer_lost and type(gone) is AlreadyRetrieved:
            raise AnswerLost("the callback was handed out in an answer that was lost; start the sign-in again")
        raise gone
    if resp.status_code == 401:
        raise Unauthorized(_message(resp))
    if resp.status_code == 429 or resp.status_code >= 500:
        return _Again(_retry_after(resp, backoff), failed=True)
    raise CallbackError(f"{resp.status_code}: {_message(resp)}")


def _callback(body: Dict[str, Any]) -> Callback:
    cb = Callback(
        auth_code=body.get("auth_code"),
        state=body.get("state", ""),
        iss=body.get("iss"),
        params=body.get("params") or {},
        metadata=body.get("metadata"),
        received_at=body.get("received_at"),
        error=body.get("error"),
        error_description=body.get("error_description"),
        kind=body.get("kind") or "authorization_code",  # a server from before kind
        issuer=body.get("issuer"),
    )
    if cb.error:
        raise ProviderError(cb.error, cb.error_description, cb)
    return cb


def _reason(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("reason", ""))
    except ValueError:
        return ""


def _message(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("message") or resp.reason_phrase)
    except ValueError:
        return resp.reason_phrase


def _retry_after(resp: httpx.Response, backoff: float) -> float:
    value = resp.headers.get("Retry-After", "")
    if value.isdigit():
        return float(value)
    return backoff


def _headers(token: Optional[str], wait: int = 0) -> Dict[str, str]:
    h = {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if wait > 0:
        h["Prefer"] = f"wait={wait}"
    return h


def _url(base_url: str, path: str, state: str) -> str:
    return base_url.rstrip("/") + path + quote(state, safe="")


def _register_body(ttl: Optional[float], metadata: Any, authorization_url: Optional[str], return_url: Optional[str],
                   issuer: Optional[str]) -> Dict[str, Any]:
    body: Dict[str, Any] = {}
    if ttl is not None:
        body["ttl"] = int(ttl)
    if metadata is not None:
        body["metadata"] = metadata
    if authorization_url is not None:
        body["authorization_url"] = authorization_url
    if return_url is not None:
        body["return_url"] = return_url
    if issuer is not None:
        body["issuer"] = issuer
    return body


def _registration(resp: httpx.Response) -> Registration:
    if resp.status_code == 201:
        b = resp.json()
        return Registration(state=b["state"], expires_at=b["expires_at"], start_url=b.get("start_url"))
    if resp.status_code == 401:
        raise Unauthorized(_message(resp))
    if resp.status_code == 409:
        raise AlreadyRegistered("state already registered or used")
    raise CallbackError(f"register: {resp.status_code}: {_message(resp)}")


def _status(resp: httpx.Response) -> Status:
    if resp.status_code == 200:
        b = resp.json()
        return Status(state=b["state"], status=b["status"], expires_at=b.get("expires_at"))
    if resp.status_code == 401:
        raise Unauthorized(_message(resp))
    raise CallbackError(f"status: {resp.status_code}: {_message(resp)}")


def _cancelled(resp: httpx.Response) -> None:
    if resp.status_code == 204:
        return
    if resp.status_code == 404:
        raise NotFound(_message(resp))
    if resp.status_code == 401:
        raise Unauthorized(_message(resp))
    if resp.status_code == 410:
        raise _gone(resp)
    raise CallbackError(f"cancel: {resp.status_code}: {_message(resp)}")


def _gone(resp: httpx.Response) -> CallbackError:
    """What a 410 means, by its reason: the same in every client."""
    reason = _reason(resp)
    if reason == "conflict":
        return Conflict(_message(resp))
    if reason == "cancelled":
        return Cancelled(_message(resp))
    return AlreadyRetrieved(_message(resp))


# --- Sync ----------------------------------------------------------------------


def wait_for_callback(
    base_url: str,
    state: str,
    *,
    timeout: float = 300.0,
    token: Optional[str] = None,
    poll_interval: float = POLL_INTERVAL,
    long_poll: float = LONG_POLL,
    client: Optional[httpx.Client] = None,
) -> Callback:
    """Wait until the callback for ``state`` arrives and return it; it is then
    gone from the server. Raises ProviderError, AlreadyRetrieved (AnswerLost),
    Conflict, Cancelled, Unauthorized, or CallbackTimeout after ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    own = client is None
    http = client or httpx.Client()
    try:
        backoff, lost = FIRST_BACKOFF, False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CallbackTimeout(f"no callback for the state within {timeout:g} s")
            wait = int(min(long_poll, remaining))
            try:
                resp = http.get(_url(base_url, "/api/callback/", state), headers=_headers(token, wait),
                                timeout=min(wait + REQUEST_SLACK, remaining + 1))
            except httpx.TransportError:
                lost = True  # the server may have answered with the code
                time.sleep(min(backoff, max(deadline - time.monotonic(), 0)))
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            decision = _decide(resp, answer_lost=lost, poll_interval=poll_interval, backoff=backoff)
            if isinstance(decision, Callback):
                return decision
            backoff = min(backoff * 2, MAX_BACKOFF) if decision.failed else FIRST_BACKOFF
            time.sleep(min(decision.delay, max(deadline - time.monotonic(), 0)))
    finally:
        if own:
            http.close()


def register(
    base_url: str,
    state: str,
    *,
    ttl: Optional[float] = None,
    metadata: Any = None,
    authorization_url: Optional[str] = None,
    return_url: Optional[str] = None,
    issuer: Optional[str] = None,
    token: Optional[str] = None,
    client: Optional[httpx.Client] = None,
) -> Registration:
    """Register ``state`` before the sign-in. With ``authorization_url`` the
    answer carries ``start_url``, a sign-in link for MCP URL elicitation.
    With ``issuer`` (RFC 9207) the service refuses a callback whose ``iss``
    is another, and keeps waiting for the real one."""
    with _transport(client) as http:
        resp = http.put(_url(base_url, "/api/callback/", state), headers=_headers(token),
                        json=_register_body(ttl, metadata, authorization_url, return_url, issuer))
    return _registration(resp)


def status(base_url: str, state: str, *, token: Optional[str] = None, client: Optional[httpx.Client] = None) -> Status:
    """Where the sign-in for ``state`` stands; never the code."""
    with _transport(client) as http:
        return _status(http.get(_url(base_url, "/api/status/", state), headers=_headers(token)))


def cancel(base_url: str, state: str, *, token: Optional[str] = None, client: Optional[httpx.Client] = None) -> None:
    """Cancel the sign-in: a later callback, and any wait, get Cancelled."""
    with _transport(client) as http:
        _cancelled(http.delete(_url(base_url, "/api/callback/", state), headers=_headers(token)))


@contextlib.contextmanager
def _transport(client: Optional[httpx.Client]) -> Iterator[httpx.Client]:
    """The caller's client, or one of our own for this call."""
    if client is not None:
        yield client
        return
    with httpx.Client() as own:
        yield own


class Client:
    """The service at ``base_url`` with its API token and an httpx.Client
    (made, and closed by ``close``, when not given): the shape of the Go and
    TypeScript clients, over the functions above."""

    def __init__(self, base_url: str, *, token: Optional[str] = None, http: Optional[httpx.Client] = None,
                 poll_interval: float = POLL_INTERVAL, long_poll: float = LONG_POLL) -> None:
        self.base_url, self.token = base_url, token
        self._own = http is None
        self._http = http or httpx.Client()
        self._poll_interval, self._long_poll = poll_interval, long_poll

    def wait(self, state: str, *, timeout: float = 300.0) -> Callback:
        """wait_for_callback, with this client's settings."""
        return wait_for_callback(self.base_url, state, timeout=timeout, token=self.token, poll_interval=self._poll_interval,
                                 long_poll=self._long_poll, client=self._http)

    def register(self, state: str, *, ttl: Optional[float] = None, metadata: Any = None,
                 authorization_url: Optional[str] = None, return_url: Optional[str] = None,
                 issuer: Optional[str] = None) -> Registration:
        return register(self.base_url, state, ttl=ttl, metadata=metadata, authorization_url=authorization_url,
                        return_url=return_url, issuer=issuer, token=self.token, client=self._http)

    def status(self, state: str) -> Status:
        return status(self.base_url, state, token=self.token, client=self._http)

    def cancel(self, state: str) -> None:
        cancel(self.base_url, state, token=self.token, client=self._http)

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- asyncio -------------------------------------------------------------------


async def wait_for_callback_async(
    base_url: str,
    state: str,
    *,
    timeout: float = 300.0,
    token: Optional[str] = None,
    poll_interval: float = POLL_INTERVAL,
    long_poll: float = LONG_POLL,
    client: Optional[httpx.AsyncClient] = None,
) -> Callback:
    """As wait_for_callback, without blocking the event loop. Cancelling the
    task closes the request in flight: the server sees the client leave."""
    deadline = time.monotonic() + timeout
    own = client is None
    http = client or httpx.AsyncClient()
    try:
        backoff, lost = FIRST_BACKOFF, False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CallbackTimeout(f"no callback for the state within {timeout:g} s")
            wait = int(min(long_poll, remaining))
            try:
                resp = await http.get(_url(base_url, "/api/callback/", state), headers=_headers(token, wait),
                                      timeout=min(wait + REQUEST_SLACK, remaining + 1))
            except httpx.TransportError:
                lost = True
                await asyncio.sleep(min(backoff, max(deadline - time.monotonic(), 0)))
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            decision = _decide(resp, answer_lost=lost, poll_interval=poll_interval, backoff=backoff)
            if isinstance(decision, Callback):
                return decision
            backoff = min(backoff * 2, MAX_BACKOFF) if decision.failed else FIRST_BACKOFF
            await asyncio.sleep(min(decision.delay, max(deadline - time.monotonic(), 0)))
    finally:
        if own:
            await http.aclose()


async def register_async(
    base_url: str,
    state: str,
    *,
    ttl: Optional[float] = None,
    metadata: Any = None,
    authorization_url: Optional[str] = None,
    return_url: Optional[str] = None,
    issuer: Optional[str] = None,
    token: Optional[str] = None,
    client: Optional[httpx.AsyncClient] = None,
) -> Registration:
    """As register, for asyncio."""
    async with _async_transport(client) as http:
        resp = await http.put(_url(base_url, "/api/callback/", state), headers=_headers(token),
                              json=_register_body(ttl, metadata, authorization_url, return_url, issuer))
    return _registration(resp)


async def status_async(base_url: str, state: str, *, token: Optional[str] = None,
                       client: Optional[httpx.AsyncClient] = None) -> Status:
    """As status, for asyncio."""
    async with _async_transport(client) as http:
        return _status(await http.get(_url(base_url, "/api/status/", state), headers=_headers(token)))


async def cancel_async(base_url: str, state: str, *, token: Optional[str] = None,
                       client: Optional[httpx.AsyncClient] = None) -> None:
    """As cancel, for asyncio."""
    async with _async_transport(client) as http:
        _cancelled(await http.delete(_url(base_url, "/api/callback/", state), headers=_headers(token)))


@contextlib.asynccontextmanager
async def _async_transport(client: Optional[httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient() as own:
        yield own


class AsyncClient:
    """Client, for asyncio, over an httpx.AsyncClient."""

    def __init__(self, base_url: str, *, token: Optional[str] = None, http: Optional[httpx.AsyncClient] = None,
                 poll_interval: float = POLL_INTERVAL, long_poll: float = LONG_POLL) -> None:
        self.base_url, self.token = base_url, token
        self._own = http is None
        self._http = http or httpx.AsyncClient()
        self._poll_interval, self._long_poll = poll_interval, long_poll

    async def wait(self, state: str, *, timeout: float = 300.0) -> Callback:
        return await wait_for_callback_async(self.base_url, state, timeout=timeout, token=self.token,
                                             poll_interval=self._poll_interval, long_poll=self._long_poll, client=self._http)

    async def register(self, state: str, *, ttl: Optional[float] = None, metadata: Any = None,
                       authorization_url: Optional[str] = None, return_url: Optional[str] = None,
                       issuer: Optional[str] = None) -> Registration:
        return await register_async(self.base_url, state, ttl=ttl, metadata=metadata, authorization_url=authorization_url,
                                    return_url=return_url, issuer=issuer, token=self.token, client=self._http)

    async def status(self, state: str) -> Status:
        return await status_async(self.base_url, state, token=self.token, client=self._http)

    async def cancel(self, state: str) -> None:
        await cancel_async(self.base_url, state, token=self.token, client=self._http)

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
