// Command testreport ends `make test` with what ran and what was skipped,
// and why, across every suite: the Go modules' `go test -json` streams
// (written by gotestsum --jsonfile) and the JUnit files of pytest and
// node --test. A skipped test is easy to miss in a long, green log; here it
// is counted and named.
//
//	go run ./testreport DIR
package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// result is one test's outcome.
type result struct {
	suite, name, outcome, reason string // outcome: pass, fail, skip
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: testreport DIR (the *.json and *.xml files of a make test run)")
		os.Exit(2)
	}
	results, err := readDir(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	os.Exit(report(os.Stdout, results))
}

func readDir(dir string) ([]result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var all []result
	for _, f := range files {
		suite := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		var rs []result
		switch filepath.Ext(f) {
		case ".json":
			rs, err = readGoJSON(f, suite)
		case ".xml":
			rs, err = readJUnit(f, suite)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, rs...)
	}
	return all, nil
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func readGoJSON(path, suite string) ([]result, error) {
	f, err := os.Open(path) // #nosec G304 G703 -- a file of this run's own
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type key struct{ pkg, test string }
	output := map[key][]string{}
	var out []result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // a line that is not an event (a build error's text)
		}
		if e.Test == "" {
			continue // package-level: "no test files" and the package's own pass or fail
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			line := strings.TrimSpace(e.Output)
			if line != "" && !strings.HasPrefix(line, "=== ") && !strings.HasPrefix(line, "--- ") {
				output[k] = append(output[k], line)
			}
		case "pass", "fail", "skip":
			r := result{suite: suite, name: shortPackage(e.Package) + " " + e.Test, outcome: e.Action}
			if e.Action == "skip" {
				r.reason = strings.Join(output[k], " ")
			}
			out = append(out, r)
			delete(output, k)
		}
	}
	return out, sc.Err()
}

// shortPackage drops the module path's host and owner.
func shortPackage(pkg string) string {
	if i := strings.Index(pkg, "oauth-callback-server/oauth-callback-server"); i >= 0 {
		rest := strings.TrimPrefix(pkg[i+len("oauth-callback-server/oauth-callback-server"):], "/")
		if rest == "" {
			return "."
		}
		return rest
	}
	return pkg
}

// junitSuite is a <testsuite> (or the <testsuites> around them), which
// node --test nests one per describe.
type junitSuite struct {
	Suites []junitSuite `xml:"testsuite"`
	Cases  []junitCase  `xml:"testcase"`
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Skipped   *struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	} `xml:"skipped"`
	Failure *struct{} `xml:"failure"`
	Error   *struct{} `xml:"error"`
}

func readJUnit(path, suite string) ([]result, error) {
	b, err := os.ReadFile(path) // #nosec G304 G703 -- a file of this run's own
	if err != nil {
		return nil, err
	}
	var root junitSuite
	if err := xml.Unmarshal(b, &root); err != nil { // #nosec G709 -- JUnit written by this run's own test runners
		return nil, err
	}
	var out []result
	var walk func(s junitSuite)
	walk = func(s junitSuite) {
		for _, c := range s.Cases {
			r := result{suite: suite, name: strings.TrimSpace(c.Classname + " " + c.Name), outcome: "pass"}
			switch {
			case c.Failure != nil || c.Error != nil:
				r.outcome = "fail"
			case c.Skipped != nil:
				r.outcome = "skip"
				r.reason = strings.TrimSpace(c.Skipped.Message + " " + c.Skipped.Text)
			}
			out = append(out, r)
		}
		for _, sub := range s.Suites {
			walk(sub)
		}
	}
	walk(root)
	return out, nil
}

// report prints the counts per suite, each skipped test with its reason,
// and a closing line; it returns the exit code: 1 when a test failed or
// nothing ran at all.
func report(w io.Writer, results []result) int {
	type counts struct{ pass, fail, skip int }
	per := map[string]*counts{}
	var suites []string
	var total counts
	var skipped, failed []result
	for _, r := range results {
		c := per[r.suite]
		if c == nil {
			c = &counts{}
			per[r.suite] = c
			suites = append(suites, r.suite)
		}
		switch r.outcome {
		case "pass":
			c.pass++
			total.pass++
		case "fail":
			c.fail++
			total.fail++
			failed = append(failed, r)
		case "skip":
			c.skip++
			total.skip++
			skipped = append(skipped, r)
		}
	}
	fmt.Fprintln(w, "\n=== What make test ran")
	for _, s := range suites {
		c := per[s]
		fmt.Fprintf(w, "  %-14s %5d passed, %d failed, %d skipped\n", s, c.pass, c.fail, c.skip)
	}
	for _, r := range failed {
		fmt.Fprintf(w, "FAILED  %s: %s\n", r.suite, r.name)
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\n=== Skipped: %d (without CI=true, a missing redis-server, chromium or nginx skips its tests instead of failing them)\n", len(skipped))
		for _, r := range skipped {
			reason := r.reason
			if reason == "" {
				reason = "(no reason given)"
			}
			fmt.Fprintf(w, "  %s: %s\n      %s\n", r.suite, r.name, reason)
		}
	} else {
		fmt.Fprintln(w, "\n=== Skipped: none")
	}
	fmt.Fprintf(w, "total: %d passed, %d failed, %d skipped\n", total.pass, total.fail, total.skip)
	if total.fail > 0 || total.pass == 0 {
		return 1
	}
	return 0
}
