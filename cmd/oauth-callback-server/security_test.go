package main

import (
	"bufio"
	"context"

	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// rawRequest sends bytes over TCP and returns the status line, for requests
// that no well-behaved client would build.
func rawRequest(t *testing.T, base, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestTransportLevelAttacks(t *testing.T) {
	t.Parallel()
	inst := startInstance(t, nil)
	tests := []struct {
		name, raw, want string
	}{
		{"Transfer-Encoding and Content-Length together",
			"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nstate=s&code=c",
			"HTTP/1.1 400"},
		{"headers over 32 KiB",
			"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n",
			"HTTP/1.1 431"},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "HTTP/1.1 40"},
		{"CR LF in the path", "GET /api/callback/a\rb HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rawRequest(t, inst.URL, tt.raw); !strings.HasPrefix(got, tt.want) {
				t.Errorf("status line %q, want %q…", got, tt.want)
			}
		})
	}
	// Nothing of the above was stored.
	if n := activeCallbacks(t, http.DefaultClient, inst.URL); n != 0 {
		t.Errorf("active_callbacks: %d", n)
	}
}

// TestRedisNeverSeesCodeOrState reads everything Redis holds after a
// callback, and every command it received (MONITOR) during a callback and
// its take: neither the code nor the state appears.
func TestRedisNeverSeesCodeOrState(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	inst := startInstance(t, map[string]string{
		"OAUTH_CALLBACK_REDIS_URL":        srv.URL(),
		"OAUTH_CALLBACK_ENCRYPTION_KEY":   "0123456789abcdef0123456789abcdef-test",
		"OAUTH_CALLBACK_API_TOKENS":       "tok-aaaaaaaaaaaaaaaaaaaa",
		"OAUTH_CALLBACK_STATE_MIN_LENGTH": "32",
	})
	const (
		state = "Dq1tC7uFcNcOz9-5sK3y_VbmWYfH4G1oYzLrQ2aBcDe"
		code  = "0.AXoA-SECRET-CODE-d2b3f1a7c9e8"
	)

	monitor := startMonitor(t, srv.Addr)
	get := func(path string, header ...string) int {
		req, _ := http.NewRequest(http.MethodGet, inst.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/callback?code=" + code + "&state=" + state + "&session_state=also-secret-session"); got != 200 {
		t.Fatalf("callback: %d", got)
	}

	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var everything strings.Builder
	for _, k := range keys {
		everything.WriteString(k + "\n")
		dump, err := client.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		everything.WriteString(dump + "\n")
	}
	if len(keys) < 2 {
		t.Fatalf("keys: %v", keys)
	}

	if got := get("/api/callback/"+state, "Authorization", "Bearer tok-aaaaaaaaaaaaaaaaaaaa"); got != 200 {
		t.Fatalf("take: %d", got)
	}
	commands := monitor()
	if !strings.Contains(commands, "evalsha") && !strings.Contains(commands, "EVALSHA") && !strings.Contains(commands, "eval") {
		t.Fatalf("MONITOR saw no script call:\n%.2000s", commands)
	}
	for what, text := range map[string]string{"stored data": everything.String(), "MONITOR": commands} {
		for _, secret := range []string{code, state, "also-secret-session"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %q", what, secret)
			}
		}
	}
}

// startMonitor records every command Redis receives until the returned
// func is called, which returns them.
func startMonitor(t *testing.T, addr string) func() string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "MONITOR\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("MONITOR: %q %v", line, err)
	}
	var (
		mu  sync.Mutex
		out strings.Builder
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := r.ReadString('\n')
			mu.Lock()
			out.WriteString(line)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return func() string {
		time.Sleep(200 * time.Millisecond) // let the last commands arrive
		conn.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
}
