package config

import (
	"sort"
	"strings"
)

// Unknown is an OAUTH_CALLBACK_* variable that the service does not read,
// and the known one closest to it ("" when none is close).
type Unknown struct {
	Name, Closest string
}

// UnknownVariables names the OAUTH_CALLBACK_* variables in environ
// ("NAME=value" entries, as os.Environ gives them) that no setting reads: a
// misspelt OAUTH_CALLBACK_REDIS_ULR would otherwise be ignored without a
// word, and the service start on the memory store.
func UnknownVariables(environ []string) []Unknown {
	known := map[string]bool{}
	for _, v := range variables {
		known[v.name] = true
	}
	seen := map[string]bool{}
	var out []Unknown
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "OAUTH_CALLBACK_") || known[name] || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, Unknown{Name: name, Closest: closest(name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// closest is the known variable nearest to name by edit distance, if it is
// near enough to be a slip (a third of the name's suffix, at least 2).
func closest(name string) string {
	best, bestDist := "", -1
	for _, v := range variables {
		if d := editDistance(name, v.name); bestDist < 0 || d < bestDist {
			best, bestDist = v.name, d
		}
	}
	if bestDist > max(2, len(strings.TrimPrefix(name, "OAUTH_CALLBACK_"))/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance, with a transposition counted
// as one edit (ULR for URL).
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
