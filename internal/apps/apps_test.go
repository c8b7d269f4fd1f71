package apps_test

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
)

func TestParseToken(t *testing.T) {
	for entry, want := range map[string]string{
		"mail=abcdefghijklmnop":         "mail",
		"abcdefghijklmnop":              "default",
		"QUJDREVGR0hJSktMTU5PUA==":      "default", // base64 padding is not an app name
		"Mail=abcdefghijklmnop":         "default", // nor is uppercase: the whole entry is the token
		"my-mcp_2=abcdefghijklmnop":     "my-mcp_2",
		"default=abc=defghijklmnopqrst": "default",
	} {
		got, err := apps.ParseToken(entry)
		if err != nil || got.App != want {
			t.Errorf("%q: app %q, %v; want %q", entry, got.App, err, want)
		}
	}
	for _, bad := range []string{"mail=short", "sha256:abcd", "mail=sha256:" + strings.Repeat("z", 64), "two words here!!"} {
		if _, err := apps.ParseToken(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func digest(token string) string {
	d := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(d[:])
}

func TestAPlainTokenListIsOneAppWithTheWholeBudget(t *testing.T) {
	got, errs := apps.Resolve([]string{"token-one-0123456789", "token-two-0123456789"}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(got) != 1 || got[0].Name != apps.DefaultName || len(got[0].Digests) != 2 || got[0].MemoryShare != 1 {
		t.Fatalf("%+v", got)
	}
	if shares := apps.MemoryShares(got); shares != nil {
		t.Fatalf("MemoryShares %v: one app holds the whole budget, nothing to count per app", shares)
	}
}

func TestResolveRefuses(t *testing.T) {
	file := []apps.App{{Name: "mail", Digests: nil, MemoryShare: 0.7}, {Name: "files", MemoryShare: 0.5}}
	if _, errs := apps.Resolve(nil, file); len(errs) != 1 || !strings.Contains(errs[0].Error(), "add up to 1.2") {
		t.Errorf("shares over the whole: %v", errs)
	}
	file = []apps.App{{Name: "mail", MemoryShare: 0.7}, {Name: "files", MemoryShare: 0.3}, {Name: "calendar"}}
	if _, errs := apps.Resolve(nil, file); len(errs) != 1 || !strings.Contains(errs[0].Error(), "leave nothing for the 1 apps") {
		t.Errorf("nothing left: %v", errs)
	}
	file = []apps.App{{Name: "mail", MemoryShare: 0.7}, {Name: "files", MemoryShare: 0.2}, {Name: "calendar", MemoryShare: 0.1}}
	if _, errs := apps.Resolve(nil, file); len(errs) != 0 {
		t.Errorf("shares of exactly the whole: %v", errs)
	}
	for _, share := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 1.5} {
		file = []apps.App{{Name: "mail", MemoryShare: share}, {Name: "files"}}
		if _, errs := apps.Resolve(nil, file); len(errs) != 1 || !strings.Contains(errs[0].Error(), `app "mail": its memory share is not a number from 0 to 1`) {
			t.Errorf("share %v: %v", share, errs)
		}
	}
	_, errs := apps.Resolve([]string{"mail=same-token-0123456789", "files=" + digest("same-token-0123456789")}, nil)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `one token is given twice (apps "files" and "mail")`) {
		t.Errorf("one token for two apps: %v", errs)
	}
}
