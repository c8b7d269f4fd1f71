package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// commandsPerCycle is how many Redis commands one callback and its take
// make on the server at addr, scripts' own commands counted one by one
// (INFO commandstats over n sequential cycles). Unlike a rate, no other
// load on the machine changes it: it is the work the design asks of Redis.
func commandsPerCycle(redisAddr, addr, tag string, n int) (float64, error) {
	if _, err := redisCmd(redisAddr, "CONFIG", "RESETSTAT"); err != nil {
		return 0, err
	}
	for i := range n {
		state := fmt.Sprintf("commands-%s-%d", tag, i)
		for _, path := range []string{"/callback?code=bench-code-0123456789abcdef&state=" + state, "/api/callback/" + state} {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("%s: %d", path, resp.StatusCode)
			}
		}
	}
	calls, err := commandCalls(redisAddr)
	if err != nil {
		return 0, err
	}
	return float64(countedCommands(calls)) / float64(n), nil
}

// commandCalls is INFO commandstats since the last CONFIG RESETSTAT:
// calls by command name.
func commandCalls(redisAddr string) (map[string]int, error) {
	stats, err := redisCmd(redisAddr, "INFO", "commandstats")
	if err != nil {
		return nil, err
	}
	return parseCommandCalls(stats)
}

// parseCommandCalls reads the calls by command name from INFO output
// (its commandstats section; the other sections' lines are skipped).
func parseCommandCalls(info string) (map[string]int, error) {
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		stat, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_")
		if !ok {
			continue
		}
		name, rest, _ := strings.Cut(stat, ":")
		n, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		c, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("INFO commandstats: %q: %w", line, err)
		}
		calls[name] = c
	}
	return calls, nil
}

// countedCommands is the commands the operations made: a script or a
// function counted by the commands it runs, and the bench's own CONFIG
// and INFO left out.
func countedCommands(calls map[string]int) int {
	total := 0
	for name, c := range calls {
		switch {
		case name == "evalsha", name == "eval", name == "evalsha_ro", name == "eval_ro",
			name == "fcall", name == "fcall_ro", strings.HasPrefix(name, "config"), name == "info":
			continue
		}
		total += c
	}
	return total
}
