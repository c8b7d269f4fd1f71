//go:build unix

package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// ReservePort returns a loopback TCP port for a process that must be told
// its port and cannot take a socket (redis-server, nginx). The port is
// free when reserved and stays this test's until it ends, across a restart
// of the process too:
//   - it lies below the kernel's ephemeral range
//     (/proc/sys/net/ipv4/ip_local_port_range), so no bind to port 0 and no
//     outgoing connection on this machine is ever given it;
//   - a lock file keeps every other test process, of any package, from
//     reserving it at the same time.
func ReservePort(t testing.TB) int {
	t.Helper()
	lo, hi := reservableRange()
	dir := filepath.Join(os.TempDir(), "oauth-callback-server-test-ports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	start := lo + rand.IntN(hi-lo) // #nosec G404 -- spreads tests over the range; nothing secret
	for i := range hi - lo {
		port := lo + (start-lo+i)%(hi-lo)
		lock, ok := lockPort(dir, port)
		if !ok {
			continue
		}
		if !bindable(port) { // some other program listens there
			_ = lock.Close()
			continue
		}
		t.Cleanup(func() { _ = lock.Close() }) // closing the file releases the lock
		return port
	}
	t.Fatalf("no free port to reserve in %d-%d", lo, hi)
	return 0
}

// reservableRange is the 12 000 ports below the ephemeral range.
func reservableRange() (lo, hi int) {
	hi = 32768 // Linux's default first ephemeral port
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				hi = n
			}
		}
	}
	lo = max(1024, hi-12000)
	return lo, hi
}

// lockPort takes the port's lock file, or reports that another process
// (or test) holds it.
func lockPort(dir string, port int) (*os.File, bool) {
	// #nosec G304 -- a path of the test's own making.
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			panic(fmt.Sprintf("lock %s: %v", f.Name(), err))
		}
		return nil, false
	}
	return f, true
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
