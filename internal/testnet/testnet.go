// Package testnet holds what tests need to run servers on loopback: a free
// port, and a wait until a started service answers its readiness probe.
// The service's tests, redistest and the end-to-end module share it.
package testnet

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
// For processes that must be told their port; a server in the test's own
// process listens on port 0 instead.
func FreePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
