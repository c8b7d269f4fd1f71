package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// fieldClient replays, step by step, the MCP server that polls the original
// service (docs/api.md, "The client in the field"): a 5 s timeout per request; on 200 read
// auth_code, state, error, error_description; on 404 sleep and poll again; on
// 410 stop with "already retrieved"; on anything else sleep and retry; give
// up after 300 s. Only the sleep is shortened, so the test takes seconds.
type fieldClient struct {
	api   string // e.g. http://host:8000/api/callback/{state}
	sleep time.Duration
	polls int
}

type fieldResult struct {
	AuthCode         *string `json:"auth_code"`
	State            string  `json:"state"`
	Error            *string `json:"error"`
	ErrorDescription *string `json:"error_description"`
}

var errAlreadyRetrieved = errors.New("already retrieved")

func (c *fieldClient) wait(state string) (*fieldResult, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(300 * time.Second)
	for time.Now().Before(deadline) {
		c.polls++
		resp, err := client.Get(fmt.Sprintf("%s/%s", c.api, state))
		if err != nil {
			time.Sleep(c.sleep)
			continue
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var r fieldResult
			err := json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			return &r, err
		case http.StatusGone:
			resp.Body.Close()
			return nil, errAlreadyRetrieved
		default: // 404 and anything else: sleep and poll again
			resp.Body.Close()
			time.Sleep(c.sleep)
		}
	}
	return nil, errors.New("timed out")
}

func TestFieldClientKeepsWorking(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) map[string]string{
		"memory": func(*testing.T) map[string]string { return nil },
		"redis": func(t *testing.T) map[string]string {
			return map[string]string{"OAUTH_CALLBACK_REDIS_URL": redistest.Start(t).URL()}
		},
	}
	for name, env := range stores {
		t.Run(name, func(t *testing.T) {
			inst := startInstance(t, env(t))
			const state = "Dq1tC7uFcNcOz9-5sK3y_VbmWYfH4G1oYzLrQ2aBcDe" // like token_urlsafe(32)
			// The person signs in a few polls after the client started.
			go func() {
				time.Sleep(150 * time.Millisecond)
				resp, err := http.Get(inst.URL + "/callback?code=field-code&state=" + state + "&session_state=x")
				if err == nil {
					resp.Body.Close()
				}
			}()
			c := &fieldClient{api: inst.URL + "/api/callback", sleep: 40 * time.Millisecond}
			r, err := c.wait(state)
			if err != nil {
				t.Fatalf("first wait: %v", err)
			}
			if c.polls < 2 {
				t.Errorf("the client should have polled through at least one 404, polled %d times", c.polls)
			}
			if r.AuthCode == nil || *r.AuthCode != "field-code" || r.State != state || r.Error != nil || r.ErrorDescription != nil {
				t.Errorf("result: %+v", r)
			}
			// Polling again: 410, and the client stops.
			c2 := &fieldClient{api: c.api, sleep: c.sleep}
			if _, err := c2.wait(state); !errors.Is(err, errAlreadyRetrieved) || c2.polls != 1 {
				t.Errorf("second wait: %v after %d polls, want already retrieved after 1", err, c2.polls)
			}
		})
	}
}
