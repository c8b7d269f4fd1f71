//go:build unix

package testnet

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestAReservedPortIsNobodyElses(t *testing.T) {
	lo, hi := reservableRange()
	port := ReservePort(t)
	if port < lo || port >= hi {
		t.Fatalf("reserved %d, outside %d-%d (below the ephemeral range)", port, lo, hi)
	}
	// Another reservation, as another test process would make it, is refused.
	if f, ok := lockPort(filepath.Join(os.TempDir(), "oauth-callback-server-test-ports"), port); ok {
		f.Close()
		t.Fatalf("port %d could be reserved twice", port)
	}
	if other := ReservePort(t); other == port {
		t.Fatalf("ReservePort gave %d twice", port)
	}
	// And it is free for the process it is meant for.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the reserved port is not free: %v", err)
	}
	l.Close()
}

// A port some program already listens on is passed over.
func TestAPortInUseIsNotReserved(t *testing.T) {
	held := Listen(t)
	if bindable(held.Addr().(*net.TCPAddr).Port) {
		t.Fatalf("bindable(%v) with a listener on it", held.Addr())
	}
}

// A held socket that Refuse stopped refuses connections, keeps its port
// from the kernel's choices, and listens again when handed over.
func TestRefuseKeepsThePortAndRefuses(t *testing.T) {
	l := Listen(t)
	addr := l.Addr().String()
	Refuse(t, l)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a refusing port accepted a connection")
	}
	d := Dup(t, l)
	defer d.Close()
	go func() {
		if c, err := d.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("after Dup: %v", err)
	}
	c.Close()
}
