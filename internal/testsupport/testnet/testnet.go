// Package testnet holds what tests need to run servers on loopback without
// luck: a socket the test holds and hands over, a port reserved for a
// process that must be told one, and a wait until a started service answers
// its readiness probe. The service's tests, redistest, the chart's tests and
// the end-to-end module share it.
//
// No port is ever chosen, released and then reused: another test could
// take it in between (it did, on CI).
package testnet

import (
	"context"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Listen returns a listener on a loopback port of the kernel's choosing,
// held by the test until it ends. Serve on it in the test's process, or
// hand it to a child with File.
//
// The socket is bound to its port by number: the kernel picks a port for
// a first socket, a second binds that port explicitly (SO_REUSEPORT lets
// both hold it for a moment) and the first is closed. A socket bound to a
// port it was not given explicitly loses the port when Refuse stops it
// listening; this one keeps it.
func Listen(t testing.TB) *net.TCPListener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	first, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	l, err := lc.Listen(context.Background(), "tcp", first.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.(*net.TCPListener)
}

// URL is http://host:port of l.
func URL(l net.Listener) string { return "http://" + l.Addr().String() }

// File is a copy of l's socket for a child process (exec.Cmd.ExtraFiles,
// with LISTEN_FDS=1: the service's socket activation), listening again if
// Refuse stopped it. The test keeps l, so the port stays bound while the
// child stops and starts again. Close the file once the child has started.
func File(t testing.TB, l *net.TCPListener) *os.File {
	t.Helper()
	control(t, l, func(fd int) error { return syscall.Listen(fd, syscall.SOMAXCONN) })
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Refuse makes l's port refuse connections, as a stopped server's does,
// while the test still holds it: call it once the process serving on it
// has stopped. Without it the kernel would queue connections for a server
// that is gone, and a proxy in front would wait instead of trying another.
// The socket stays bound, so neither a bind to port 0 nor an outgoing
// connection is given the port; File and Dup make it listen again.
func Refuse(t testing.TB, l *net.TCPListener) {
	t.Helper()
	control(t, l, func(fd int) error { return syscall.Shutdown(fd, syscall.SHUT_RD) })
}

func control(t testing.TB, l *net.TCPListener, f func(fd int) error) {
	t.Helper()
	raw, err := l.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
}

// Dup is a listener on l's socket for a service in the test's own process,
// which closes it when it stops; l, and so the port, stays the test's.
func Dup(t testing.TB, l *net.TCPListener) net.Listener {
	t.Helper()
	f := File(t, l)
	defer f.Close()
	d, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// WaitReady polls base+"/readyz" until it answers 200, and fails the test
// if that takes longer than within.
func WaitReady(t testing.TB, base string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		// Bounded: on a socket the test holds, the kernel accepts the
		// connection whether or not the service ever serves it.
		client := &http.Client{Timeout: max(time.Until(deadline), 100*time.Millisecond)}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v (last error: %v)", base, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
