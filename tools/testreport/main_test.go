package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goJSON = `{"Action":"run","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/redisstore","Test":"TestReal"}
{"Action":"output","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/redisstore","Test":"TestReal","Output":"=== RUN   TestReal\n"}
{"Action":"output","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/redisstore","Test":"TestReal","Output":"    redistest.go:78: SKIPPED: redis-server not found on PATH\n"}
{"Action":"output","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/redisstore","Test":"TestReal","Output":"--- SKIP: TestReal (0.00s)\n"}
{"Action":"skip","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/redisstore","Test":"TestReal"}
{"Action":"pass","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/redisstore","Test":"TestMini"}
{"Action":"pass","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/redisstore"}
{"Action":"skip","Package":"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"}
`

const junit = `<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="redis">
  <testsuite name="nested"><testcase name="scenario a" classname="test"><skipped type="skipped" message="redis-server is not installed"/></testcase></testsuite>
  <testcase name="scenario b" classname="test"/>
  <testcase name="scenario c" classname="test"><failure message="boom"/></testcase>
</testsuite></testsuites>`

func TestReportCountsAndNamesEverySkip(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.json"), []byte(goJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "typescript.xml"), []byte(junit), 0o600); err != nil {
		t.Fatal(err)
	}
	results, err := readDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := report(&out, results)
	got := out.String()
	for _, want := range []string{
		"=== Skipped: 2",
		"go: internal/redisstore TestReal\n      redistest.go:78: SKIPPED: redis-server not found on PATH",
		"typescript: test scenario a\n      redis-server is not installed",
		"FAILED  typescript: test scenario c",
		"\ntotal: 2 passed, 1 failed, 2 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if code != 1 {
		t.Errorf("exit code %d with a failure, want 1", code)
	}
}

func TestNothingRunIsAFailure(t *testing.T) {
	var out bytes.Buffer
	if code := report(&out, nil); code != 1 {
		t.Errorf("exit code %d when no test ran, want 1", code)
	}
}
