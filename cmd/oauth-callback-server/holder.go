package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

// holder is who holds a listen address that cannot be bound, as far as
// can be told; start-up and check both say it.
type holder struct {
	process string // "pid 1234 (nginx)"; empty where the OS does not say
	service bool   // an oauth-callback-server: it answers HEAD /callback as one
}

// whoHolds asks the kernel which process listens on addr's port, and the
// address itself whether it is this service. Only a port in use has a
// holder to look for.
func whoHolds(ctx context.Context, addr string, bindErr error) holder {
	if !errors.Is(bindErr, syscall.EADDRINUSE) {
		return holder{}
	}
	return holder{process: portHolder(addr), service: servesCallbacks(ctx, addr)}
}

func (h holder) String() string {
	switch {
	case h.service && h.process != "":
		return "an oauth-callback-server, " + h.process
	case h.service:
		return "an oauth-callback-server"
	}
	return h.process
}

// bindError is the error of a listen address (named by its variables) that
// cannot be bound, naming its holder and what to do.
func bindError(name, addr string, h holder, err error) error {
	held := ""
	if s := h.String(); s != "" {
		held = "; it is held by " + s
	}
	todo := "stop that process"
	if h.service {
		held += ", running already"
		todo = "stop it"
	}
	return fmt.Errorf("%s (%s) cannot be bound: %w%s: %s, or set %s to another address", addr, name, err, held, todo, name)
}

// servesCallbacks reports whether addr answers HEAD /callback with
// httpapi.ProbeHeader, as only this service does.
func servesCallbacks(ctx context.Context, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, "http://"+net.JoinHostPort(localHost(host), port)+"/callback", nil)
	if err != nil {
		return false
	}
	// A transport of its own: no proxy from the environment, no redirect
	// followed, no connection kept.
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.Header.Get(httpapi.ProbeHeader) != ""
}

// localHost is where to reach a listener on host from this machine: over
// loopback when it listens on every address.
func localHost(host string) string {
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "127.0.0.1"
	}
	return host
}

// portHolder names the process that listens on addr's port, from /proc
// (Linux): "pid 1234 (nginx)". Empty where the OS does not say, or the
// process is another user's.
func portHolder(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return ""
	}
	proc, err := os.OpenRoot("/proc")
	if err != nil {
		return ""
	}
	defer func() { _ = proc.Close() }()
	inodes := map[string]bool{}
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		data, err := proc.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			// local_address is hex ip:port; state 0A is LISTEN; field 9 the inode.
			if len(fields) < 10 || fields[3] != "0A" {
				continue
			}
			if _, hexPort, ok := strings.Cut(fields[1], ":"); ok {
				if n, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(n) == p {
					inodes["socket:["+fields[9]+"]"] = true
				}
			}
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	fds, _ := fs.Glob(proc.FS(), "[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := proc.Readlink(fd); err == nil && inodes[target] {
			pid, _, _ := strings.Cut(fd, "/")
			comm, _ := proc.ReadFile(pid + "/comm")
			return "pid " + pid + " (" + strings.TrimSpace(string(comm)) + ")"
		}
	}
	return ""
}
