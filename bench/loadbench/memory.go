package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memory measures what a pending callback and a registration cost each
// store: the memory store's RSS, Redis's used_memory, with MEMORY USAGE
// of the keys one sign-in has (internal/callback/redisstore/layout.go:
// its record, its sealed values) and of the partitions' budgets.
func memory(procs *procList, redisAddr string) error {
	fmt.Printf("\n## Memory with %d pending callbacks\n\n", *pending)
	fmt.Println("| store | what is pending | bytes each | of which, `MEMORY USAGE` of its keys |")
	fmt.Println("|---|---|---|---|")
	for _, codeLen := range []int{64, 1024} {
		addr, pid, err := procs.startServiceWithPID(map[string]string{"OAUTH_CALLBACK_MAX_ENTRIES": strconv.Itoa(2 * *pending), "OAUTH_CALLBACK_MAX_MEMORY": unboundedBudget})
		if err != nil {
			return err
		}
		before, err := rssBytes(pid)
		if err != nil {
			return err
		}
		if err := fill(addr, *pending, http.StatusOK, callbackRequest(codeLen, "m")); err != nil {
			return err
		}
		time.Sleep(2 * time.Second) // let the runtime settle
		after, err := rssBytes(pid)
		if err != nil {
			return err
		}
		fmt.Printf("| memory (RSS) | a callback, %d-byte code | %d | – |\n", codeLen, (after-before)/int64(*pending))
	}
	// Each Redis figure on a prefix of its own, so that its keys and
	// budgets are its alone.
	type redisCase struct {
		what, prefix string
		steps        []func(addr string) error // the first fills what is measured, once the others ran
	}
	register := func(metadata int, tag string) func(addr string) error {
		return func(addr string) error {
			return fill(addr, *pending, http.StatusCreated, registerRequest(metadata, tag))
		}
	}
	cases := []redisCase{
		{"a callback, 64-byte code", "mem64:", []func(string) error{func(addr string) error {
			return fill(addr, *pending, http.StatusOK, callbackRequest(64, "r"))
		}}},
		{"a callback, 1 024-byte code", "mem1024:", []func(string) error{func(addr string) error {
			return fill(addr, *pending, http.StatusOK, callbackRequest(1024, "r"))
		}}},
		{"a registration, no metadata", "memreg:", []func(string) error{register(0, "g")}},
		{"a registration, 1 KiB of metadata", "memregmeta:", []func(string) error{register(1024, "h")}},
		{"a callback (64-byte code) for a registered state, beyond its registration", "memregcb:", []func(string) error{
			func(addr string) error { return fill(addr, *pending, http.StatusOK, callbackRequest(64, "k")) },
			register(0, "k"),
		}},
		// A taken sign-in leaves its record behind as a tombstone for the
		// callback's TTL (a second take answers 410, not 404): what Redis
		// holds for every sign-in of the last ten minutes.
		{"a taken sign-in: its tombstone, kept for the TTL after the take", "memtaken:", []func(string) error{func(addr string) error {
			return fill(addr, *pending, http.StatusOK, callbackRequest(64, "t"), takeRequest("t"))
		}}},
	}
	for _, c := range cases {
		addr, err := procs.startService(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr,
			"OAUTH_CALLBACK_REDIS_KEY_PREFIX": c.prefix, "OAUTH_CALLBACK_MAX_MEMORY": unboundedBudget})
		if err != nil {
			return err
		}
		for i := len(c.steps) - 1; i > 0; i-- {
			if err := c.steps[i](addr); err != nil {
				return err
			}
		}
		before, err := redisUsedMemory(redisAddr)
		if err != nil {
			return err
		}
		if err := c.steps[0](addr); err != nil {
			return err
		}
		after, err := redisUsedMemory(redisAddr)
		if err != nil {
			return err
		}
		keys, err := signInKeyUsage(redisAddr, c.prefix)
		if err != nil {
			return err
		}
		fmt.Printf("| Redis (used_memory) | %s | %d | %s |\n", c.what, (after-before)/int64(*pending), keys)
	}
	budgets, err := budgetUsage(redisAddr, "mem64:")
	if err != nil {
		return err
	}
	fmt.Printf("\nThe byte budget after the 64-byte callbacks (prefix `mem64:`): %s.\n", budgets)
	return nil
}

// signInKeyUsage is MEMORY USAGE of one key of each kind a sign-in has
// under prefix: its record (s:), a sealed callback (cb:), a sealed
// registration (reg:), where the prefix has one.
func signInKeyUsage(addr, prefix string) (string, error) {
	var parts []string
	for _, kind := range []struct{ name, infix string }{{"record", "s:"}, {"sealed callback", "cb:"}, {"sealed registration", "reg:"}} {
		key, err := sampleKey(addr, prefix+"{*}:"+kind.infix+"*")
		if err != nil {
			return "", err
		}
		if key == "" {
			continue
		}
		usage, err := redisCmd(addr, "MEMORY", "USAGE", key, "SAMPLES", "0")
		if err != nil {
			return "", err
		}
		value, err := redisCmd(addr, "STRLEN", key)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s %s (a %s-byte value)", kind.name, usage, value))
	}
	return strings.Join(parts, ", "), nil
}

// budgetUsage sums the partitions' budgets under prefix: how many there
// are, their fields (HLEN) and MEMORY USAGE.
func budgetUsage(addr, prefix string) (string, error) {
	keys, err := redisCmd(addr, "--scan", "--pattern", prefix+"{*}:budget")
	if err != nil {
		return "", err
	}
	var n, fields, bytes int
	for _, key := range strings.Fields(keys) {
		l, err := redisCmd(addr, "HLEN", key)
		if err != nil {
			return "", err
		}
		u, err := redisCmd(addr, "MEMORY", "USAGE", key, "SAMPLES", "0")
		if err != nil {
			return "", err
		}
		f, err1 := strconv.Atoi(l)
		b, err2 := strconv.Atoi(u)
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("%s: HLEN %q, MEMORY USAGE %q", key, l, u)
		}
		n, fields, bytes = n+1, fields+f, bytes+b
	}
	if n == 0 {
		return "", fmt.Errorf("no budget under %q", prefix)
	}
	return fmt.Sprintf("%d partitions' hashes, %d fields, %d bytes in all (`MEMORY USAGE`), %.0f bytes per field", n, fields, bytes, float64(bytes)/float64(max(fields, 1))), nil
}

// sampleKey is one key matching pattern, or "" when SCAN finds none.
func sampleKey(addr, pattern string) (string, error) {
	cursor := "0"
	for {
		out, err := redisCmd(addr, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
		if err != nil {
			return "", err
		}
		lines := strings.Fields(out)
		if len(lines) == 0 {
			return "", fmt.Errorf("SCAN %s: no answer", pattern)
		}
		if len(lines) > 1 {
			return lines[1], nil
		}
		if cursor = lines[0]; cursor == "0" {
			return "", nil
		}
	}
}

// A fill's request for its i-th state.
type fillRequest func(addr, state string) (*http.Request, error)

// callbackRequest is a provider's redirect with a code of codeLen bytes
// and a session_state parameter; states are 43 URL-safe characters, like
// the field client's, made from tag.
func callbackRequest(codeLen int, tag string) fillRequest {
	code := strings.Repeat("c", codeLen)
	return func(addr, state string) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, "http://"+addr+"/callback?code="+code+"&state="+tag+state+"&session_state=0123456789abcdef", nil)
	}
}

// registerRequest registers a state, with metadata bytes of metadata
// (none: no body).
func registerRequest(metadata int, tag string) fillRequest {
	body := ""
	if metadata > 0 {
		body = `{"metadata":{"m":"` + strings.Repeat("m", metadata-8) + `"}}`
	}
	return func(addr, state string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/api/callback/"+tag+state, strings.NewReader(body))
		if err == nil && body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
}

// takeRequest is the field client's take of a state (no token).
func takeRequest(tag string) fillRequest {
	return func(addr, state string) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, "http://"+addr+"/api/callback/"+tag+state, nil)
	}
}

// fill sends, for each of the states 1 to n, the requests in order, from
// 32 workers; every answer must be want.
func fill(addr string, n int, want int, requests ...fillRequest) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				var err error
				for _, request := range requests {
					if err = send(client, addr, fmt.Sprintf("%042d", i), request, want); err != nil {
						break
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// send sends request's request for state and checks its answer.
func send(client *http.Client, addr, state string, request fillRequest, want int) error {
	req, err := request(addr, state)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
	return nil
}
