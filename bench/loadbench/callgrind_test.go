package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A dump as callgrind 3.19 writes it with --compress-strings=no
// --compress-pos=no (cut down): the timer called from two places, once
// with two calls in one record; other calls around it.
const dumpFixture = `version: 1
creator: callgrind-3.19.0
pid: 1270
cmd:  redis-server --hz 1
part: 1

desc: Trigger: dump

positions: line
events: Ir
summary: 1000000
totals: 1000100

ob=/usr/bin/redis-server
fn=processTimeEvents
0 40
cfn=serverCron
calls=2 0
0 262948
cfn=processCommand
calls=5 0
0 500000

fn=aeProcessEvents
0 10
cfn=serverCron
calls=1 0
0 120000
cfn=beforeSleep
calls=1 0
0 700
`

func TestReadCallgrindDump(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callgrind.out.1")
	if err := os.WriteFile(path, []byte(dumpFixture), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readCallgrindDump(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.instructions != 1_000_000 || got.cron != 262_948+120_000 {
		t.Errorf("got instructions %d, cron %d; want 1 000 000, 382 948", got.instructions, got.cron)
	}
	for fn, want := range map[string]calleeCost{
		"serverCron":     {calls: 3, inclusive: 382_948},
		"processCommand": {calls: 5, inclusive: 500_000},
		"beforeSleep":    {calls: 1, inclusive: 700},
		"nobody":         {},
	} {
		if got := got.callee(fn); got != want {
			t.Errorf("callee(%s): got %+v, want %+v", fn, got, want)
		}
	}
	if got, want := got.opInstructions(), int64(1_000_000-382_948); got != want {
		t.Errorf("opInstructions: got %d, want %d", got, want)
	}
}

func TestReadCallgrindDumpWithoutSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callgrind.out.1")
	if err := os.WriteFile(path, []byte("version: 1\nevents: Ir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readCallgrindDump(path); err == nil {
		t.Error("a dump without summary: was read without an error")
	}
}

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{0, "0"}, {999.4, "999"}, {999.6, "1 000"}, {4560, "4 560"}, {86_700, "86 700"}, {1_234_567, "1 234 567"}} {
		if got := thousands(tc.in); got != tc.want {
			t.Errorf("thousands(%v): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReadCallgrindDumpMalformedCall(t *testing.T) {
	for _, bad := range []string{"calls=\n0 5\n", "calls=x 0\n0 5\n", "calls=1 0\n5\n"} {
		path := filepath.Join(t.TempDir(), "callgrind.out.1")
		if err := os.WriteFile(path, []byte("summary: 10\nfn=a\ncfn=b\n"+bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readCallgrindDump(path); err == nil {
			t.Errorf("%q: read without an error", bad)
		}
	}
}
