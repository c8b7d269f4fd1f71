"""The real service for the client's tests: the binary in $OCS_BIN (make
test-clients builds it), on the memory store, and on a real redis-server
with two replicas (callbacks land on A, the client waits on B)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import httpx
import pytest

import oauth_callback_client

# make test-clients installs the package and says where: the tests must
# import that copy, the one a user gets, and not the sources.
if os.environ.get("OCS_PY_CLIENT") and not os.path.realpath(oauth_callback_client.__file__).startswith(
        os.path.realpath(os.environ["OCS_PY_CLIENT"])):
    raise RuntimeError(f"testing {oauth_callback_client.__file__}, not the installed package in $OCS_PY_CLIENT")

# The service is shared by two apps, as by two MCP servers: the tests'
# client is mail (TOKEN), files is the other.
TOKEN = "tok-python-client-0123456789"
FILES_TOKEN = "tok-python-client-files-app-0123456789"
SECRET = "python-client-test-secret-0123456789"


def held_socket() -> socket.socket:
    """A socket the test holds for a replica's whole life, handed to each of
    its processes (socket activation): a port picked, released and reused
    could be taken by another test in between. It is bound to its port by
    number (the kernel picks it for a first socket, SO_REUSEPORT lets a
    second bind it, the first closes), so that it keeps the port while it
    refuses connections between two processes."""
    with socket.socket() as first:
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.bind(("127.0.0.1", 0))
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(first.getsockname())
    return s


def wait_ready(url: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready after {within} s")
        time.sleep(0.02)


@dataclass
class Replica:
    sock: socket.socket
    env: Dict[str, str]
    proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()
        return f"http://{host}:{port}"

    def start(self) -> None:
        env = dict(os.environ, LISTEN_FDS="1", OAUTH_CALLBACK_DRAIN_DELAY="0", OAUTH_CALLBACK_LOG_LEVEL="error",
                   **self.env)
        self.sock.listen(128)
        fd = self.sock.fileno()

        def socket_at_fd3() -> None:
            # Socket activation looks for the socket at file descriptor 3.
            # The parent's other descriptors are not inheritable (PEP 446),
            # so close_fds=False passes this one alone.
            if fd == 3:
                os.set_inheritable(3, True)
            else:
                os.dup2(fd, 3)  # inheritable

        self.proc = subprocess.Popen([binary()], env=env, close_fds=False, preexec_fn=socket_at_fd3)
        wait_ready(self.url)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
            # Refused while stopped, as a stopped server's port is; the
            # port stays held, and start listens again.
            self.sock.shutdown(socket.SHUT_RD)

    def close(self) -> None:
        self.stop()
        self.sock.close()


@dataclass
class Service:
    """a takes the callbacks, b the waits; the same replica on memory."""

    a: Replica
    b: Replica
    store: str
    extra: List[subprocess.Popen] = field(default_factory=list)
    # One client for the test's own requests: a new httpx client per
    # request costs milliseconds, which would show in the wake latency.
    http: httpx.Client = field(default_factory=httpx.Client)

    def callback(self, state: str, **params: str) -> httpx.Response:
        return self.http.get(self.a.url + "/callback", params={"state": state, **params})

    def metric(self, series: str) -> float:
        """One series of replica b's /metrics."""
        body = self.http.get(self.b.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        for line in body.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[1])
        return 0.0

    def waiters(self) -> int:
        return int(self.metric("oauth_callback_waiters"))

    def wait_for_first_poll(self, within: float = 10.0) -> None:
        """Until replica b has answered a take with 404."""
        deadline = time.monotonic() + within
        while self.metric('oauth_callback_takes_total{code="404"}') < 1:
            if time.monotonic() > deadline:
                raise AssertionError("the client never polled")
            time.sleep(0.005)

    def wait_for_waiters(self, n: int, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while self.waiters() != n:
            if time.monotonic() > deadline:
                raise AssertionError(f"the server never held {n} long-polls (holds {self.waiters()})")
            time.sleep(0.005)

    def restart_b(self) -> None:
        self.b.stop()
        self.b.start()


def binary() -> str:
    path = os.environ.get("OCS_BIN")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("set OCS_BIN to the built service (make test-clients does)")
    return path


def settings(**extra: str) -> Dict[str, str]:
    env = {
        "OAUTH_CALLBACK_API_TOKENS": f"mail={TOKEN},files={FILES_TOKEN}",
        "OAUTH_CALLBACK_RATE_LIMIT_CALLBACK": "0",
        "OAUTH_CALLBACK_RATE_LIMIT_API": "0",
        "OAUTH_CALLBACK_ENCRYPTION_KEY": SECRET,
        "OAUTH_CALLBACK_AUTHORIZE_HOSTS": "login.example.com",
        # Only a wake-up can deliver within a test's time.
        "OAUTH_CALLBACK_LONG_POLL_RECHECK": "10m",
    }
    env.update(extra)
    return env


def start_service(store: str, **extra: str) -> Service:
    if store == "memory":
        sock = held_socket()
        r = Replica(sock, {})
        r.env = settings(OAUTH_CALLBACK_PUBLIC_URL=r.url, **extra)
        r.start()
        return Service(r, r, store)
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing (CI)")
        pytest.skip("redis-server is not installed")
    # Redis on a unix socket of the test's own: no TCP port at all.
    workdir = tempfile.mkdtemp(prefix="ocs-python-redis-")
    redis_sock = os.path.join(workdir, "redis.sock")
    redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", redis_sock, "--save", "",
                              "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(redis_sock)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    a, b = Replica(held_socket(), {}), Replica(held_socket(), {})
    env = settings(OAUTH_CALLBACK_REDIS_URL=f"unix://{redis_sock}", OAUTH_CALLBACK_PUBLIC_URL=a.url, **extra)
    a.env, b.env = env, env
    a.start()
    b.start()
    return Service(a, b, store, [redis])


def stop_service(svc: Service) -> None:
    svc.http.close()
    svc.a.close()
    svc.b.close()
    for p in svc.extra:
        p.terminate()
        p.wait(10)


@pytest.fixture(params=["memory", "redis"])
def svc(request):
    s = start_service(request.param)
    yield s
    stop_service(s)


@pytest.fixture
def no_long_poll():
    """A server that grants no wait, like the original service."""
    s = start_service("memory", OAUTH_CALLBACK_MAX_WAIT="0")
    yield s
    stop_service(s)


@pytest.fixture
def redis_svc():
    s = start_service("redis")
    yield s
    stop_service(s)
