package authtest

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Gate is a managed Redis's front door, for tests of the binary, which
// signs its own tokens: TLS in, each sign-in (AUTH, HELLO … AUTH) shown to
// the Cache first, which installs the password if the cloud would accept
// it (a refused one is replaced by one no user has, so Redis answers
// WRONGPASS), and every byte passed on, both ways, to the TLS-only
// redis-server behind it. It remembers every command name it saw.
type Gate struct {
	Addr string

	cache    *Cache // nil: sign-ins pass unchecked (passwords)
	upstream string
	upTLS    *tls.Config
	ln       net.Listener

	mu       sync.Mutex
	commands map[string]int
}

// StartGate listens on 127.0.0.1 with redis's certificate and forwards to
// redis; it stops when the test ends.
func StartGate(t testing.TB, redis *TLSRedis, cache *Cache) *Gate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(redis.CAFile, redis.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{Addr: ln.Addr().String(), cache: cache, upstream: redis.Addr, upTLS: redis.Client, ln: ln, commands: map[string]int{}}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Range(func(c, _ any) bool { _ = c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conns.Delete(c)
				g.serve(c, &conns)
			}()
		}
	}()
	return g
}

// Seen is how many commands named name (upper case; "CLIENT
// MAINT_NOTIFICATIONS" for a subcommand) passed.
func (g *Gate) Seen(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.commands[name]
}

func (g *Gate) serve(client net.Conn, conns *sync.Map) {
	defer func() { _ = client.Close() }()
	up, err := tls.Dial("tcp", g.upstream, g.upTLS)
	if err != nil {
		return
	}
	conns.Store(up, true)
	defer conns.Delete(up)
	defer func() { _ = up.Close() }()
	go func() {
		_, _ = io.Copy(client, up)
		_ = client.Close()
	}()
	r := bufio.NewReader(client)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		g.note(args)
		g.checkSignIn(args)
		if _, err := up.Write(encodeCommand(args)); err != nil {
			return
		}
	}
}

func (g *Gate) note(args []string) {
	if len(args) == 0 {
		return
	}
	name := strings.ToUpper(args[0])
	if (name == "CLIENT" || name == "CONFIG" || name == "ACL") && len(args) > 1 {
		name += " " + strings.ToUpper(args[1])
	}
	g.mu.Lock()
	g.commands[name]++
	g.mu.Unlock()
}

// checkSignIn shows the password of AUTH [user] password or HELLO v AUTH
// user password to the cache, and spoils it in args if refused.
func (g *Gate) checkSignIn(args []string) {
	if g.cache == nil || len(args) == 0 {
		return
	}
	var user, pw *string
	switch strings.ToUpper(args[0]) {
	case "AUTH":
		switch len(args) {
		case 2:
			def := "default"
			user, pw = &def, &args[1]
		case 3:
			user, pw = &args[1], &args[2]
		}
	case "HELLO":
		for i := 2; i+2 < len(args); i++ {
			if strings.EqualFold(args[i], "AUTH") {
				user, pw = &args[i+1], &args[i+2]
				break
			}
		}
	}
	if pw == nil {
		return
	}
	if err := g.cache.Accept(context.Background(), *user, *pw); err != nil {
		*pw = "refused-by-the-cloud: " + err.Error()
	}
}

// readCommand reads one RESP array of bulk strings, as clients send.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil // an inline command
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil {
		return nil, fmt.Errorf("array length %q: %w", line, err)
	}
	args := make([]string, 0, n)
	for range n {
		head, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimRight(head, "\r\n")[1:])
		if err != nil {
			return nil, fmt.Errorf("bulk length %q: %w", head, err)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

func encodeCommand(args []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}
