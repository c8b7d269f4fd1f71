package chaos

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// workload is the simulated sign-ins: each worker plays one MCP server and
// one person's browser at a time, and sometimes an attacker.
type workload struct {
	sys  *system
	rec  *recorder
	http *http.Client
}

func newWorkload(sys *system, rec *recorder) *workload {
	return &workload{sys: sys, rec: rec, http: &http.Client{
		Timeout: 4 * time.Second, // past a 2 s long-poll and the store timeout
		// One operation, one request. On a connection it reuses, Go's
		// transport sends a GET again when the connection dies before the
		// answer: a callback a killed replica had stored came back as 409
		// from the restarted one, recorded as one refused callback, which
		// no correct service could answer (found by the 30-minute run,
		// seed 20261201). A new connection per request is never retried.
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
}

// actor is one client of the history: porcupine wants a client's
// operations one after another, so each concurrent role has its own id.
type actor struct {
	id  int
	w   *workload
	rng *rand.Rand
}

// run plays sign-ins until ctx ends. Worker i is the clients 3i (the MCP
// server), 3i+1 (the browser) and 3i+2 (the attacker).
func (w *workload) run(ctx context.Context, workers int, seed uint64) {
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			mcp := &actor{id: 3 * i, w: w, rng: rand.New(rand.NewPCG(seed, uint64(1000+i)))}
			browser := &actor{id: 3*i + 1, w: w, rng: rand.New(rand.NewPCG(seed, uint64(2000+i)))}
			attacker := &actor{id: 3*i + 2, w: w, rng: rand.New(rand.NewPCG(seed, uint64(3000+i)))}
			for ctx.Err() == nil {
				w.signIn(ctx, rng, mcp, browser, attacker)
			}
		}()
	}
	wg.Wait()
}

func randomHex(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b)
}

// signIn is one sign-in: the MCP server registers (half the time) and
// long-polls; the browser delivers the callback, sometimes twice; an
// attacker sometimes sends a code of its own; the MCP server sometimes
// cancels instead.
func (w *workload) signIn(ctx context.Context, rng *rand.Rand, mcp, browser, attacker *actor) {
	state := "chaos-" + randomHex(rng, 16)
	code := "code-" + randomHex(rng, 8)
	register, replay, conflict, cancel := rng.Float64() < 0.5, rng.Float64() < 0.25, rng.Float64() < 0.1, rng.Float64() < 0.05
	retake := rng.Float64() < 0.3 // a client retrying after its answer was lost, or a second pod of the MCP server
	if register {
		mcp.register(state)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 4 { // long-polls until the code, an answer that ends it, or four tries
			if ctx.Err() != nil {
				return
			}
			if cancel && mcp.rng.Float64() < 0.5 {
				mcp.cancel(state)
				return
			}
			if res := mcp.take(state); res != resNotFound && res != resUnknown {
				if retake {
					mcp.take(state) // answered 410 already_retrieved: never the code again
				}
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		time.Sleep(time.Duration(browser.rng.IntN(300)) * time.Millisecond) // the person signs in
		browser.callback(state, code)
		if replay {
			browser.callback(state, code) // a refresh, or the back button
		}
		if conflict {
			attacker.callback(state, "attacker-"+randomHex(attacker.rng, 8))
		}
	}()
	wg.Wait()
}

// send makes one request to a random replica and records it.
func (a *actor) send(kind, state, code, method, path string, classify func(status int, body []byte) (result, got string)) string {
	replica := a.w.sys.replicas[a.rng.IntN(len(a.w.sys.replicas))]
	op := Op{Client: a.id, Replica: replica.index, Kind: kind, State: state, Code: code, Call: a.w.rec.now()}
	req, err := http.NewRequest(method, replica.base+path, nil)
	if err != nil {
		panic(err)
	}
	resp, err := a.w.http.Do(req)
	if err != nil {
		op.Result = resUnknown
	} else {
		body, readErr := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case readErr != nil, resp.StatusCode == http.StatusServiceUnavailable:
			op.Result = resUnknown
		default:
			var got string
			op.Result, got = classify(resp.StatusCode, body)
			if op.Result == resUnexpected {
				op.Detail = fmt.Sprintf("%d %.200s", resp.StatusCode, body)
			}
			if got != "" {
				op.Code = got
			}
		}
	}
	op.Return = a.w.rec.now()
	a.w.rec.op(op)
	return op.Result
}

// reasonOf is the reason of a JSON error answer.
func reasonOf(body []byte) string {
	var e struct{ Reason string }
	_ = json.Unmarshal(body, &e)
	return e.Reason
}

// goneResult is what a 410 from the API says.
func goneResult(body []byte) string {
	switch reasonOf(body) {
	case "already_retrieved":
		return resTaken
	case "conflict":
		return resConflict
	case "cancelled":
		return resCancelled
	}
	return resUnexpected
}

func (a *actor) register(state string) string {
	return a.send(opRegister, state, "", http.MethodPut, "/api/callback/"+state, func(status int, _ []byte) (string, string) {
		switch status {
		case http.StatusCreated:
			return resRegistered, ""
		case http.StatusConflict:
			return resExists, ""
		}
		return resUnexpected, ""
	})
}

func (a *actor) callback(state, code string) string {
	q := url.Values{"state": {state}, "code": {code}}
	return a.send(opCallback, state, code, http.MethodGet, "/callback?"+q.Encode(), func(status int, _ []byte) (string, string) {
		switch status {
		case http.StatusOK:
			return resStored, ""
		case http.StatusConflict:
			return resRefused, ""
		case http.StatusGone:
			return resCancelled, ""
		}
		return resUnexpected, ""
	})
}

func (a *actor) take(state string) string {
	return a.send(opTake, state, "", http.MethodGet, "/api/callback/"+state+"?wait=1", func(status int, body []byte) (string, string) {
		switch status {
		case http.StatusOK:
			var c struct {
				AuthCode string `json:"auth_code"`
			}
			if err := json.Unmarshal(body, &c); err != nil || c.AuthCode == "" {
				return resUnexpected, ""
			}
			return resCode, c.AuthCode
		case http.StatusNotFound:
			return resNotFound, ""
		case http.StatusGone:
			return goneResult(body), ""
		}
		return resUnexpected, ""
	})
}

func (a *actor) cancel(state string) string {
	return a.send(opCancel, state, "", http.MethodDelete, "/api/callback/"+state, func(status int, body []byte) (string, string) {
		switch status {
		case http.StatusNoContent:
			return resCancelled, ""
		case http.StatusNotFound:
			return resNotFound, ""
		case http.StatusGone:
			return goneResult(body), ""
		}
		return resUnexpected, ""
	})
}
