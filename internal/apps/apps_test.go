package apps_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
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

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadFileYAMLAndJSON(t *testing.T) {
	yamlFile := writeFile(t, `
apps:
  mail:
    tokens: ["`+digest("mail-token-0123456789")+`", "mail-next-0123456789"]
    memory_share: 0.5
    rate_limit_api: 600
    rate_limit_register: 60
  files:
    tokens: ["files-token-0123456789"]
`)
	jsonFile := writeFile(t, `{"apps": {"mail": {"tokens": ["`+digest("mail-token-0123456789")+`", "mail-next-0123456789"],
	  "memory_share": 0.5, "rate_limit_api": 600, "rate_limit_register": 60},
	  "files": {"tokens": ["files-token-0123456789"]}}}`)
	for _, path := range []string{yamlFile, jsonFile} {
		file, errs := apps.ReadFile(path)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		got, errs := apps.Resolve([]string{"calendar=calendar-token-0123456789"}, file)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if names := strings.Join(apps.Names(got), ","); names != "calendar,files,mail" {
			t.Fatalf("apps %s", names)
		}
		calendar, files, mail := got[0], got[1], got[2]
		if len(mail.Digests) != 2 || mail.Digests[0] != sha256.Sum256([]byte("mail-token-0123456789")) || mail.RateLimitAPI != 600 || mail.RateLimitRegister != 60 {
			t.Errorf("mail: %+v", mail)
		}
		// The apps that set no share get an equal part of what mail leaves.
		if mail.MemoryShare != 0.5 || files.MemoryShare != 0.25 || calendar.MemoryShare != 0.25 {
			t.Errorf("shares: mail %v, files %v, calendar %v", mail.MemoryShare, files.MemoryShare, calendar.MemoryShare)
		}
		if shares := apps.MemoryShares(got); len(shares) != 3 {
			t.Errorf("MemoryShares: %v", shares)
		}
	}
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

func TestReadFileReportsEveryProblemAtOnce(t *testing.T) {
	path := writeFile(t, `
apps:
  Mail:
    tokens: ["short"]
    memory_share: 1.5
  files:
    tokens: []
    rate_limit_api: -1
  calendar:
    tokens: ["calendar-token-0123456789"]
    rate_limit_apii: 10
`)
	_, errs := apps.ReadFile(path)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "rate_limit_apii") {
		t.Fatalf("an unknown field: %v", errs) // decoding stops at it: fixed first
	}
	path = writeFile(t, strings.Replace(string(must(os.ReadFile(path))), "rate_limit_apii", "rate_limit_api", 1))
	_, errs = apps.ReadFile(path)
	joined := ""
	for _, e := range errs {
		joined += e.Error() + "\n"
	}
	for _, want := range []string{"apps.Mail: an app's name", "apps.Mail: tokens[0]: every token must be at least 16", "apps.Mail: memory_share: 1.5",
		"apps.files: tokens: an app needs at least one token", "apps.files: rate_limit_api: -1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
	for _, content := range []string{"", "apps: {}\n", "apps: [mail]\n"} {
		if _, errs := apps.ReadFile(writeFile(t, content)); len(errs) == 0 {
			t.Errorf("%q was accepted", content)
		}
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
	_, errs := apps.Resolve([]string{"mail=same-token-0123456789", "files=" + digest("same-token-0123456789")}, nil)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `one token is given twice (apps "files" and "mail")`) {
		t.Errorf("one token for two apps: %v", errs)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
