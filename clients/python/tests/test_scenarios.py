"""The shared scenarios (clients/SCENARIOS.md) against the real service."""

from __future__ import annotations

import asyncio
import pathlib
import secrets
import statistics
import sys
import threading
import time
import urllib.parse

import httpx
import pytest

from conftest import FILES_TOKEN, TOKEN, Service
from oauth_callback_client import (
    AlreadyRegistered,
    AlreadyRetrieved,
    AsyncClient,
    Client,
    CallbackTimeout,
    Cancelled,
    Conflict,
    NotFound,
    ProviderError,
    Unauthorized,
    cancel,
    register,
    status,
    wait_for_callback,
    wait_for_callback_async,
)


def new_state() -> str:
    return secrets.token_urlsafe(32)


class Waiter(threading.Thread):
    """wait_for_callback in the background."""

    def __init__(self, base_url: str, state: str, **kwargs) -> None:
        super().__init__(daemon=True)
        self.args = (base_url, state)
        self.kwargs = {"token": TOKEN, "timeout": 30.0, **kwargs}
        self.result = None
        self.error = None
        self.finished_at = 0.0

    def run(self) -> None:
        try:
            self.result = wait_for_callback(*self.args, **self.kwargs)
        except Exception as e:  # noqa: BLE001 - handed to the test
            self.error = e
        self.finished_at = time.monotonic()

    def outcome(self):
        self.join(30)
        assert not self.is_alive(), "the wait never returned"
        return self.result, self.error


def scenario_takes_a_callback_stored_before_the_wait(svc: Service) -> None:
    state = new_state()
    assert svc.callback(state, code="c-1", session_state="ss").status_code == 200
    cb = wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10)
    assert (cb.auth_code, cb.state, cb.params.get("session_state")) == ("c-1", state, "ss")


def scenario_long_poll_wakes_on_the_callback(svc: Service, capsys) -> None:
    latencies = []
    for _ in range(20):
        state = new_state()
        w = Waiter(svc.b.url, state)
        w.start()
        svc.wait_for_waiters(1)
        sent = time.monotonic()
        assert svc.callback(state, code="woken").status_code == 200
        result, error = w.outcome()
        assert error is None and result.auth_code == "woken"
        latencies.append((w.finished_at - sent) * 1000)
    with capsys.disabled():
        print(f"\n  python sync client, {svc.store}: wake latency median {statistics.median(latencies):.1f} ms, "
              f"max {max(latencies):.1f} ms (20 waits; from sending the callback to the client returning)")


def scenario_polls_a_server_without_long_poll(no_long_poll: Service) -> None:
    state = new_state()
    w = Waiter(no_long_poll.b.url, state)
    w.start()
    no_long_poll.wait_for_first_poll()  # it found nothing: the callback comes later
    assert no_long_poll.callback(state, code="polled").status_code == 200
    result, error = w.outcome()
    assert error is None and result.auth_code == "polled"
    assert no_long_poll.waiters() == 0  # it never held a request


def scenario_provider_error_is_typed(svc: Service) -> None:
    state = new_state()
    register(svc.a.url, state, token=TOKEN)  # only then is the description kept for the page
    svc.callback(state, error="access_denied", error_description="The user declined")
    with pytest.raises(ProviderError) as e:
        wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10)
    assert (e.value.code, e.value.description) == ("access_denied", "The user declined")


def scenario_second_take_is_already_retrieved(svc: Service) -> None:
    state = new_state()
    svc.callback(state, code="once")
    assert wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10).auth_code == "once"
    with pytest.raises(AlreadyRetrieved):
        wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10)


def scenario_register_twice_is_already_registered(svc: Service) -> None:
    state = new_state()
    register(svc.a.url, state, token=TOKEN)
    with pytest.raises(AlreadyRegistered):
        register(svc.b.url, state, token=TOKEN)
    received = new_state()
    svc.callback(received, code="arrived")
    with pytest.raises(AlreadyRegistered) as e:
        register(svc.a.url, received, token=TOKEN)
    assert not isinstance(e.value, AlreadyRetrieved)


def test_client_holds_the_url_token_and_transport(svc: Service) -> None:
    """Client and AsyncClient: the functions, with the settings given once,
    over one httpx client of the caller's."""
    state, other = new_state(), new_state()
    with httpx.Client() as http, Client(svc.a.url, token=TOKEN, http=http) as c:
        assert c.register(state, ttl=300).state == state
        assert c.status(state).status == "registered"
        svc.callback(state, code="held")
        assert c.wait(state, timeout=10).auth_code == "held"
        with pytest.raises(AlreadyRegistered):
            c.register(state)
        assert not http.is_closed  # the caller's client stays the caller's

    async def run() -> str:
        async with AsyncClient(svc.b.url, token=TOKEN) as c:
            await c.register(other)
            svc.callback(other, code="async-held")
            return (await c.wait(other, timeout=10)).auth_code

    assert asyncio.run(run()) == "async-held"
    with Client(svc.a.url) as tokenless, pytest.raises(Unauthorized):
        tokenless.status(state)


def scenario_admin_consent_is_delivered(svc: Service) -> None:
    state = new_state()
    svc.callback(state, admin_consent="True", tenant="72f988bf-86f1-41af-91ab-2d7cd011db47", scope="https://graph.microsoft.com/.default")
    cb = wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10)
    assert (cb.kind, cb.auth_code, cb.tenant, cb.scope) == ("admin_consent", None, "72f988bf-86f1-41af-91ab-2d7cd011db47", "https://graph.microsoft.com/.default")


def scenario_cancel_is_an_error_with_its_subcode(svc: Service) -> None:
    state = new_state()
    svc.callback(state, error="access_denied", error_subcode="cancel")
    with pytest.raises(ProviderError) as e:
        wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10)
    assert e.value.code == "access_denied"
    assert e.value.callback.params["error_subcode"] == "cancel"


def scenario_issuer_mismatch_is_refused(svc: Service) -> None:
    state, issuer = new_state(), "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
    register(svc.a.url, state, issuer=issuer, token=TOKEN)
    assert svc.callback(state, code="mixed-up", iss="https://evil.example").status_code == 400
    assert svc.callback(state, code="real", iss=issuer).status_code == 200
    cb = wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10)
    assert (cb.auth_code, cb.iss, cb.issuer) == ("real", issuer, issuer)


def _browser_completes(svc: Service, start_url: str, code: str) -> None:
    """The person's browser: opens the sign-in link (a page, which changes
    nothing) and presses its button (the relay sets its binding cookie and
    sends it to the provider), and the provider sends it back to /callback.
    The cookie is passed by hand: it is Secure, and the test's service is
    plain http on loopback, where browsers send it."""
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(start_url)
        assert page.status_code == 200 and "set-cookie" not in page.headers, page.text
        opened = browser.post(start_url)
        assert opened.status_code == 303, opened.text
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(opened.headers["location"]).query))["state"]
        cookie = opened.headers["set-cookie"].split(";", 1)[0]
        back = browser.get(svc.a.url + "/callback", params={"code": code, "state": state}, headers={"Cookie": cookie})
        assert back.status_code == 200, back.text


def scenario_retry_on_another_instance_takes_the_sign_in(svc: Service) -> None:
    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "examples"))
    import mrtr_signin  # the example docs/clients.md shows

    key = secrets.token_bytes(32)

    async def run() -> None:
        async with AsyncClient(svc.a.url, token=TOKEN) as first, AsyncClient(svc.b.url, token=TOKEN) as second:
            asked = await mrtr_signin.begin(first, key, "alice", "https://login.example.com/authorize", "app",
                                            svc.a.url + "/callback", "openid")
            assert asked["resultType"] == "input_required"
            start_url = asked["inputRequests"]["sign_in"]["params"]["url"]
            request_state = asked["requestState"]
            # The person has not finished: the retry asks for another retry.
            again = await mrtr_signin.resume(second, key, "alice", request_state, wait=1)
            assert again == {"resultType": "input_required", "requestState": request_state}
            _browser_completes(svc, start_url, "the-code")
            # Another user, or an edited state: refused, and the code stays.
            assert (await mrtr_signin.resume(second, key, "mallory", request_state))["isError"]
            edited = request_state[:-2] + ("AA" if not request_state.endswith("AA") else "BB")
            assert (await mrtr_signin.resume(second, key, "alice", edited))["isError"]
            done = await mrtr_signin.resume(second, key, "alice", request_state)
            assert done["code"] == "the-code" and done["verifier"], done

    asyncio.run(run())


def scenario_conflict_is_reported(svc: Service) -> None:
    state = new_state()
    svc.callback(state, code="first")
    svc.callback(state, code="second")
    with pytest.raises(Conflict):
        wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10)


def scenario_cancel_ends_the_wait(svc: Service) -> None:
    state = new_state()
    register(svc.a.url, state, token=TOKEN)
    w = Waiter(svc.b.url, state)
    w.start()
    svc.wait_for_waiters(1)
    cancel(svc.a.url, state, token=TOKEN)
    _, error = w.outcome()
    assert isinstance(error, Cancelled)


def scenario_deadline_raises_timeout(svc: Service) -> None:
    started = time.monotonic()
    with pytest.raises(CallbackTimeout):
        wait_for_callback(svc.b.url, new_state(), token=TOKEN, timeout=1.5)
    assert time.monotonic() - started < 10


def scenario_token_is_sent_and_required(svc: Service) -> None:
    state = new_state()
    svc.callback(state, code="tokened")
    with pytest.raises(Unauthorized):
        wait_for_callback(svc.b.url, state, timeout=5)
    assert wait_for_callback(svc.b.url, state, token=TOKEN, timeout=5).auth_code == "tokened"


def scenario_sign_in_link_register_status_cancel(svc: Service) -> None:
    state = new_state()
    redirect = urllib.parse.quote(svc.a.url + "/callback", safe="")
    auth = f"https://login.example.com/authorize?client_id=x&state={state}&redirect_uri={redirect}"
    reg = register(svc.a.url, state, ttl=300, authorization_url=auth, token=TOKEN)
    assert reg.start_url and reg.start_url.startswith(svc.a.url + "/start/")
    assert status(svc.b.url, state, token=TOKEN).status == "registered"
    cancel(svc.b.url, state, token=TOKEN)
    assert status(svc.a.url, state, token=TOKEN).status == "cancelled"
    with pytest.raises(NotFound):
        cancel(svc.a.url, new_state(), token=TOKEN)


def scenario_survives_a_server_restart(redis_svc: Service) -> None:
    state = new_state()
    w = Waiter(redis_svc.b.url, state)
    w.start()
    redis_svc.wait_for_waiters(1)
    redis_svc.restart_b()  # the held request is answered or cut; the client asks again
    assert redis_svc.callback(state, code="after-restart").status_code == 200
    result, error = w.outcome()
    assert error is None and result.auth_code == "after-restart"


def scenario_cancellation_leaves_no_request(svc: Service) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(wait_for_callback_async(svc.b.url, new_state(), token=TOKEN, timeout=30))
        deadline = time.monotonic() + 10
        while svc.waiters() != 1:
            assert time.monotonic() < deadline, "the async wait never reached the server"
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    svc.wait_for_waiters(0)  # the server saw the request go


def scenario_another_apps_wait_never_gets_the_callback(svc: Service) -> None:
    # Issue 33: another app's long-poll, woken by the callback, took it.
    state = new_state()
    register(svc.a.url, state, token=TOKEN)
    # files waits with both default calls at once, sync and asyncio.
    files_sync = Waiter(svc.b.url, state, token=FILES_TOKEN, timeout=4)
    files_sync.start()

    async def files_async() -> object:
        waiting = asyncio.ensure_future(wait_for_callback_async(svc.b.url, state, token=FILES_TOKEN, timeout=4))
        deadline = time.monotonic() + 10
        while svc.waiters() != 2:
            assert time.monotonic() < deadline, "files' waits never reached the server"
            await asyncio.sleep(0.01)
        assert svc.callback(state, code="mail-code").status_code == 200
        (outcome,) = await asyncio.gather(waiting, return_exceptions=True)
        return outcome

    async_outcome = asyncio.run(files_async())
    sync_result, sync_error = files_sync.outcome()
    assert isinstance(sync_error, CallbackTimeout) and isinstance(async_outcome, CallbackTimeout), (
        f"files' waits on mail's state ended with: sync {sync_result or sync_error!r}, asyncio {async_outcome!r}")
    assert wait_for_callback(svc.b.url, state, token=TOKEN, timeout=10).auth_code == "mail-code"
