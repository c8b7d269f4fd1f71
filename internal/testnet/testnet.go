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
	"testing"
	"time"
)

// Listen returns a listener on a loopback port of the kernel's choosing,
// held by the test until it ends. Serve on it in the test's process, or
// hand it to a child with File.
func Listen(t testing.TB) *net.TCPListener {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.(*net.TCPListener)
}

// URL is http://host:port of l.
func URL(l net.Listener) string { return "http://" + l.Addr().String() }

// File is a copy of l's socket for a child process (exec.Cmd.ExtraFiles,
// with LISTEN_FDS=1: the service's socket activation). The test keeps l, so
// the port stays bound while the child stops and starts again; the kernel
// queues connections until a child accepts them. Close the file once the
// child has started.
func File(t testing.TB, l *net.TCPListener) *os.File {
	t.Helper()
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	return f
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
		resp, err := http.Get(base + "/readyz")
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
