package chaos

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// netns is a network namespace of the run's own, for one replica of the
// service. The replica runs inside it, so its connections to Redis are its
// own: the relays carry them to Redis on the host's loopback, and a
// partition is an nftables rule in this namespace alone that drops the
// packets (they are not refused: the replica's requests time out, as on a
// real network). The replica's HTTP socket is the host's, handed over by
// socket activation, so the driver reaches the replica through any
// partition.
type netns struct {
	name    string
	mu      sync.Mutex
	relays  []net.Listener
	conns   map[net.Conn]struct{}
	stopped bool
}

// removeStaleNetns removes the namespaces of runs whose process is gone
// (killed before its cleanup ran): ocs-chaos-<pid>-<replica>.
func removeStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		parts := strings.Split(name, "-")
		if len(parts) != 4 || parts[0] != "ocs" || parts[1] != "chaos" {
			continue
		}
		if _, err := os.Stat("/proc/" + parts[2]); os.IsNotExist(err) {
			_ = exec.Command("ip", "netns", "del", name).Run() // #nosec G204 -- a name ip listed
		}
	}
}

// newNetns makes the namespace with its loopback up. Close removes it.
func newNetns(name string) (*netns, error) {
	_ = exec.Command("ip", "netns", "del", name).Run() // one left by a run that was killed
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &netns{name: name, conns: map[net.Conn]struct{}{}}
	if err := n.run("ip", "link", "set", "lo", "up"); err != nil {
		n.Close()
		return nil, err
	}
	// The table partitions use; empty, it lets everything through.
	if err := n.nft("add table inet chaos"); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.nft("add chain inet chaos out { type filter hook output priority 0 ; policy accept ; }"); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// nft runs an nft command inside the namespace, written as on a shell.
func (n *netns) nft(command string) error { return n.run("nft", strings.Fields(command)...) }

// run runs a command inside the namespace.
func (n *netns) run(name string, args ...string) error {
	argv := append([]string{"netns", "exec", n.name, name}, args...)
	// #nosec G204 -- the run's own commands.
	if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return nil
}

// command is cmd run inside the namespace (ip netns exec execs it, so the
// process is the program itself: signals reach it directly).
func (n *netns) command(bin string, args ...string) *exec.Cmd {
	// #nosec G204 -- the run's own binary.
	return exec.Command("ip", append([]string{"netns", "exec", n.name, bin}, args...)...)
}

// relay listens on addr (127.0.0.1:port) inside the namespace and carries
// every connection to the same address on the host, where Redis listens.
// The listening socket is made on a thread moved into the namespace; the
// connections to the host are made on the host's.
func (n *netns) relay(addr string) error {
	ln, err := n.listenInside(addr)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.relays = append(n.relays, ln)
	n.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go n.carry(in, addr)
		}
	}()
	return nil
}

func (n *netns) listenInside(addr string) (net.Listener, error) {
	type listened struct {
		ln  net.Listener
		err error
	}
	ch := make(chan listened, 1)
	go func() {
		// Never unlocked: the thread, moved into the namespace, ends with
		// this goroutine, and no other goroutine ever runs on it.
		runtime.LockOSThread()
		inside, err := os.Open("/run/netns/" + n.name)
		if err != nil {
			ch <- listened{err: err}
			return
		}
		defer inside.Close()
		if err := unix.Setns(int(inside.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- listened{err: fmt.Errorf("setns %s: %w", n.name, err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- listened{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

func (n *netns) carry(in net.Conn, addr string) {
	out, err := net.Dial("tcp", addr)
	if err != nil {
		in.Close()
		return
	}
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	n.conns[in], n.conns[out] = struct{}{}, struct{}{}
	n.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	in.Close()
	out.Close()
	<-done
	n.mu.Lock()
	delete(n.conns, in)
	delete(n.conns, out)
	n.mu.Unlock()
}

// partition drops every packet on the namespace's loopback to and from
// the relays' ports: the replica's Redis connections stay open and hear
// nothing, and new ones are never answered. heal removes the rules.
func (n *netns) partition(ports []string) error {
	set := strings.Join(ports, ", ")
	if err := n.nft("add rule inet chaos out tcp dport { " + set + " } drop"); err != nil {
		return err
	}
	return n.nft("add rule inet chaos out tcp sport { " + set + " } drop")
}

func (n *netns) heal() error { return n.nft("flush chain inet chaos out") }

// rules are the partition chain's rules as nft lists them.
func (n *netns) rules() (string, error) {
	// #nosec G204 -- the run's own command.
	out, err := exec.Command("ip", "netns", "exec", n.name, "nft", "list", "chain", "inet", "chaos", "out").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft list chain in %s: %v: %s", n.name, err, out)
	}
	return string(out), nil
}

// Close stops the relays and removes the namespace.
func (n *netns) Close() {
	n.mu.Lock()
	n.stopped = true
	for _, ln := range n.relays {
		ln.Close()
	}
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	_ = exec.Command("ip", "netns", "del", n.name).Run()
}
