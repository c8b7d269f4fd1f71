package apps_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problems reads content as an apps file and returns its problems, one a line.
func problems(t *testing.T, content string) []string {
	t.Helper()
	_, errs := apps.ReadFile(writeFile(t, content))
	var lines []string
	for _, err := range errs {
		lines = append(lines, err.Error())
	}
	return lines
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

func TestReadFileReportsEveryProblemAtOnce(t *testing.T) {
	got := problems(t, `apps:
  Mail:
    tokens: ["short"]
    memory_share: 1.5
  files:
    tokens: []
    rate_limit_api: -1
  calendar:
    tokens: "calendar-token-0123456789"
    rate_limt_api: 10
    memory_share: .nan
  contacts:
    rate_limit_register: ten
  tasks:
    tokens: ["tasks-token-0123456789"]
    tokens: ["tasks-next-0123456789"]
  tasks: {tokens: ["tasks-token-9876543210"]}
`)
	want := []string{
		"line 2: apps.Mail: an app's name is lowercase letters, digits, - and _ (up to 32, starting with a letter)",
		"line 3: apps.Mail.tokens[0]: every token must be at least 16 characters",
		"line 4: apps.Mail.memory_share: 1.5 is not a share of the budget: give a number above 0 and at most 1 (0.25 is a quarter), or leave it out for an equal part of what the others leave",
		"line 6: apps.files.tokens: an app needs at least one token",
		"line 7: apps.files.rate_limit_api: -1 is out of range: give a whole number of requests per minute, 1..1000000, or leave it out for the service's",
		`line 9: apps.calendar.tokens: a list of tokens is expected, not text: write tokens: ["<token>"], even for one`,
		"line 10: apps.calendar.rate_limt_api: unknown field, did you mean rate_limit_api?",
		"line 11: apps.calendar.memory_share: .nan is not a share of the budget: give a number above 0 and at most 1 (0.25 is a quarter), or leave it out for an equal part of what the others leave",
		"line 13: apps.contacts.rate_limit_register: a number is expected, not text: give a whole number of requests per minute, 1..1000000, or leave it out for the service's",
		"line 12: apps.contacts: an app needs at least one token (tokens: [...])",
		"line 16: apps.tasks.tokens: given twice (first on line 15)",
		"line 17: apps.tasks: given twice (first on line 14)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for content, want := range map[string]string{
		"":                     "the file is empty",
		"# only a comment\n":   "the file is empty",
		"~\n":                  "the file is empty",
		"apps: {}\n":           "no apps",
		"apps:\n":              "no apps",
		"app: {}\n":            "line 1: app: unknown field, did you mean apps?",
		"apps: [mail]\n":       "line 1: apps: a mapping of app names to apps is expected (apps: {mail: {tokens: [...]}}), not a list",
		"[apps]\n":             "line 1: the file is a mapping, apps: {name: {tokens: [...]}}, not a list",
		"apps: {mail: [x]}\n":  "line 1: apps.mail: an app is a mapping (tokens: [...] and optional memory_share, rate_limit_api, rate_limit_register), not a list",
		"apps: {mail: }\n":     "line 1: apps.mail: an app needs at least one token (tokens: [...])",
		"apps: {mail: {x: 1\n": "not YAML or JSON: yaml: line 1: did not find expected ',' or '}'",
		"apps: {}\n---\napps: {mail: {tokens: [mail-token-0123456789]}}\n": "line 2: a second document (after ---): the file is one document, apps: {...}",
	} {
		got := problems(t, content)
		if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("%q: got %q, want a problem with %q", content, got, want)
		}
	}
}

// TestReadFileNeverShowsAToken: a token in the wrong place, in every way a
// file can put it there, never reaches a message, not even in part: the
// file is a Secret and its problems reach the start-up log and check.
func TestReadFileNeverShowsAToken(t *testing.T) {
	const (
		token  = "Zq8xWv3KpL9mRt7Yb4Hn"
		digits = "8274619305716283" // a token can be all digits, and reads as a number
		cut    = "Zq8xWv3KpL9"      // a token cut short is still most of one
		spaced = "Zq8xWv3K pL9mRt7Yb4Hn"
	)
	app := func(body string) string { return "apps:\n  mail:\n" + body }
	for _, content := range []string{
		app(`    tokens: "` + token + `"` + "\n"),
		app("    tokens: " + token + "\n"),
		app("    tokens: " + digits + "\n"),
		app("    tokens: {" + token + ": x}\n"),
		app("    tokens:\n      " + token + ": 1\n"),
		app(`    tokens: ["` + token + `", ["` + token + `"]]` + "\n"),
		app(`    tokens: ["` + cut + `", "` + spaced + `", "sha256:` + token + `"]` + "\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    " + token + ": 1\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    [" + token + "]: 1\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    memory_share: \"" + token + "\"\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    memory_share: " + digits + "\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    memory_share: !!float " + token + "\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    rate_limit_api: " + digits + "\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    rate_limit_register: [" + token + "]\n"),
		app(`    tokens: ["mail-token-0123456789"]` + "\n    <<: " + token + "\n"),
		app("    tokens: [*" + token + "]\n"),
		app("    tokens: *" + token + "\n"),
		app("    tokens: [&" + token + " x]\n"),
		app("    tokens: [!" + token + " x]\n"),
		app("    tokens: [%" + token + "]\n"),
		app("    tokens: [@" + token + "]\n"),
		app("    tokens: [`" + token + "]\n"),
		app("    tokens: [" + token + "\n"),
		app(`    tokens: ["` + token + "\n"),
		app(`    tokens: ["\q` + token + `"]` + "\n"),
		"apps:\n  " + token + ":\n    tokens: [mail-token-0123456789]\n",
		"apps:\n  " + token + "\n",
		"apps:\n  - " + token + "\n",
		"apps: " + token + "\n",
		token + "\n",
		token + ": 1\napps: {mail: {tokens: [mail-token-0123456789]}}\n",
		"apps: {mail: {tokens: [mail-token-0123456789]}}\n---\n" + token + "\n",
		`{"apps": {"mail": {"tokens": "` + token + `"}}}`,
		`{"apps": {"mail": {"tokens": ["` + token + `"], "memory_share": "` + token + `"}}}`,
	} {
		got := problems(t, content)
		if len(got) == 0 {
			t.Errorf("%q was accepted", content)
			continue
		}
		for _, secret := range []string{token, digits, cut} {
			if leak := sharedRun(strings.Join(got, "\n"), secret, 4); leak != "" {
				t.Errorf("%q: the problems show %q of the token:\n%s", content, leak, strings.Join(got, "\n"))
			}
		}
	}
}

// sharedRun is a run of n characters of secret found in text, or "".
func sharedRun(text, secret string, n int) string {
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+n]) {
			return secret[i : i+n]
		}
	}
	return ""
}

// A memory share is a number above 0 and at most 1; 0 and none leave the
// app an equal part of what the others leave, as before. NaN fails every
// comparison and once passed them all, leaving the app unbounded.
func TestReadFileMemoryShareIsAShare(t *testing.T) {
	read := func(share string) ([]apps.App, []error) {
		return apps.ReadFile(writeFile(t, "apps:\n  mail:\n    tokens: [mail-token-0123456789]\n    memory_share: "+share+"\n"))
	}
	for share, want := range map[string]float64{"0.5": 0.5, "1": 1, "1.0": 1, "0.0001": 0.0001, "5e-1": 0.5, "0": 0, "~": 0, "": 0} {
		got, errs := read(share)
		if len(errs) > 0 || len(got) != 1 || got[0].MemoryShare != want {
			t.Errorf("memory_share: %s: got %+v, %v; want %v", share, got, errs, want)
		}
	}
	for _, share := range []string{".nan", ".NaN", ".inf", "+.inf", "-.inf", "-0.5", "-1", "1.5", "1.0000001", "2", `"0.5"`, "[0.5]", "{share: 0.5}", "true", "half", "!!float half", "1e400"} {
		_, errs := read(share)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "line 4: apps.mail.memory_share: ") || !strings.Contains(errs[0].Error(), "give a number above 0 and at most 1") {
			t.Errorf("memory_share: %s: %v, want it refused", share, errs)
		}
	}
}

func TestReadFileRateLimits(t *testing.T) {
	read := func(limit string) ([]apps.App, []error) {
		return apps.ReadFile(writeFile(t, "apps:\n  mail:\n    tokens: [mail-token-0123456789]\n    rate_limit_api: "+limit+"\n    rate_limit_register: "+limit+"\n"))
	}
	for limit, want := range map[string]int{"600": 600, "600.0": 600, "1000000": 1_000_000, "0": 0, "~": 0} {
		got, errs := read(limit)
		if len(errs) > 0 || len(got) != 1 || got[0].RateLimitAPI != want || got[0].RateLimitRegister != want {
			t.Errorf("%s: got %+v, %v; want %d", limit, got, errs, want)
		}
	}
	for _, limit := range []string{"-1", "1000001", "600.5", `"600"`, ".nan", ".inf", "[600]", "true", "99999999999999999999"} {
		_, errs := read(limit)
		if len(errs) != 2 || !strings.HasPrefix(errs[0].Error(), "line 4: apps.mail.rate_limit_api: ") || !strings.HasPrefix(errs[1].Error(), "line 5: apps.mail.rate_limit_register: ") {
			t.Errorf("%s: %v, want both refused", limit, errs)
		}
	}
}

func TestReadFileSuggestsTheFieldMeant(t *testing.T) {
	for field, want := range map[string]string{
		"rate_limt_api":       "line 4: apps.mail.rate_limt_api: unknown field, did you mean rate_limit_api?",
		"Tokens":              "line 4: apps.mail.Tokens: unknown field, did you mean tokens?",
		"memoryShare":         "line 4: apps.mail.memoryShare: unknown field, did you mean memory_share?",
		"rate-limit-register": "line 4: apps.mail.rate-limit-register: unknown field, did you mean rate_limit_register?",
		"share":               "line 4: apps.mail.share: unknown field (an app has tokens, memory_share, rate_limit_api and rate_limit_register)",
		`"tab\there"`:         `line 4: apps.mail."tab\there": unknown field (an app has tokens, memory_share, rate_limit_api and rate_limit_register)`,
	} {
		got := problems(t, "apps:\n  mail:\n    tokens: [mail-token-0123456789]\n    "+field+": 1\n")
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: got %q, want %q", field, got, want)
		}
	}
}

// Anchors and merge keys, which decoding into a struct followed, still do.
func TestReadFileFollowsAnchorsAndMerges(t *testing.T) {
	_, errs := apps.ReadFile(writeFile(t, `
apps:
  mail: &base
    <<: *base
    tokens: ["mail-token-0123456789"]
    rate_limit_api: 10
    memory_share: 0.25
  files:
    <<: [*base, {rate_limit_register: 5, rate_limit_api: 99}]
    tokens: ["files-token-0123456789"]
    memory_share: 0.5
  calendar: {tokens: ["calendar-token-0123456789"], rate_limit_register: *limit}
  contacts:
    tokens: ["contacts-token-0123456789"]
    rate_limit_register: &limit 7
`))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "no anchor") {
		t.Fatalf("an alias before its anchor: %v", errs) // YAML's rule: anchors come first
	}
	got, errs := apps.ReadFile(writeFile(t, `
apps:
  mail: &base
    <<: *base
    tokens: ["mail-token-0123456789"]
    rate_limit_api: 10
    memory_share: 0.25
  files:
    <<: [*base, {rate_limit_register: 5, rate_limit_api: 99}]
    tokens: ["files-token-0123456789"]
    memory_share: 0.5
  contacts:
    tokens: ["contacts-token-0123456789"]
    rate_limit_register: &limit 7
  calendar: {tokens: ["calendar-token-0123456789"], rate_limit_register: *limit}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	byName := map[string]apps.App{}
	for _, a := range got {
		byName[a.Name] = a
	}
	if mail := byName["mail"]; mail.RateLimitAPI != 10 || mail.MemoryShare != 0.25 || len(mail.Digests) != 1 {
		t.Errorf("mail: %+v", mail)
	}
	// files gives its own tokens and share; the first merged mapping wins.
	if files := byName["files"]; files.RateLimitAPI != 10 || files.RateLimitRegister != 5 || files.MemoryShare != 0.5 || len(files.Digests) != 1 || files.Digests[0] == byName["mail"].Digests[0] {
		t.Errorf("files: %+v", files)
	}
	if calendar := byName["calendar"]; calendar.RateLimitRegister != 7 {
		t.Errorf("calendar: %+v", calendar)
	}
}
