package config

import (
	"errors"
	"sort"
	"strings"
)

// Unknown is an OAUTH_CALLBACK_* variable that the service does not read,
// and the known one closest to it ("" when none is close).
type Unknown struct {
	Name, Closest string
	// Misspelt: Closest is a slip away (mostSlips), so the operator meant
	// it; Misspellings refuses it.
	Misspelt bool
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
		out = append(out, closest(name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Misspellings is an *Error for each variable of environ that is a slip
// away from a known one (OAUTH_CALLBACK_REDIS_ULR): ignored, it would leave
// its setting at the default (two replicas each on a memory store of their
// own). Names further from any are only warned about at start. Nil when
// there is none.
func Misspellings(environ []string) error {
	var errs []error
	for _, u := range UnknownVariables(environ) {
		if u.Misspelt {
			// secret: the value may be a password, under a misspelt name.
			errs = append(errs, &Error{Var: u.Name, Reason: "not a variable the service reads: did you mean " + u.Closest + "? (a name one or two letters from a known one is taken for a slip and refused, not ignored)", secret: true})
		}
	}
	return errors.Join(errs...)
}

// closest is the known variable nearest to name by edit distance, if it is
// near enough to be worth naming (a third of the name's suffix, at least
// 2), and whether it is a slip.
func closest(name string) Unknown {
	best, bestDist := "", -1
	for _, v := range variables {
		if d := editDistance(name, v.name); bestDist < 0 || d < bestDist {
			best, bestDist = v.name, d
		}
	}
	u := Unknown{Name: name}
	if bestDist <= max(2, len(strings.TrimPrefix(name, "OAUTH_CALLBACK_"))/3) {
		u.Closest = best
		u.Misspelt = bestDist <= mostSlips(best)
	}
	return u
}

// mostSlips is how many edits from the known variable name a misspelling
// may be: two, but one for the three- and four-letter names (TTL, PORT,
// HOST), where two edits make another word (OAUTH_CALLBACK_URL is no slip
// for OAUTH_CALLBACK_TTL).
func mostSlips(name string) int {
	return min(2, max(1, len(strings.TrimPrefix(name, "OAUTH_CALLBACK_"))/3))
}

// editDistance is the Damerau–Levenshtein distance: insertions, deletions,
// substitutions and transpositions of adjacent letters (ULR for URL) each
// count one, and a transposed pair may be edited further (Lowrance and
// Wagner's algorithm, not the restricted "optimal string alignment").
func editDistance(a, b string) int {
	inf := len(a) + len(b)
	// d[i+1][j+1] is the distance between a[:i] and b[:j]; row and column
	// 0 hold inf, so that a transposition never reaches before the start.
	d := make([][]int, len(a)+2)
	for i := range d {
		d[i] = make([]int, len(b)+2)
		d[i][0] = inf
		if i > 0 {
			d[i][1] = i - 1
		}
	}
	for j := range d[0] {
		d[0][j] = inf
		if j > 0 {
			d[1][j] = j - 1
		}
	}
	lastRow := map[byte]int{} // the last row of a in which each letter was seen
	for i := 1; i <= len(a); i++ {
		lastMatchCol := 0
		for j := 1; j <= len(b); j++ {
			i1, j1 := lastRow[b[j-1]], lastMatchCol
			cost := 1
			if a[i-1] == b[j-1] {
				cost, lastMatchCol = 0, j
			}
			d[i+1][j+1] = min(
				d[i][j]+cost, // substitution, or a match
				d[i+1][j]+1,  // insertion
				d[i][j+1]+1,  // deletion
				d[i1][j1]+(i-i1-1)+1+(j-j1-1), // transposition, with what lies between
			)
		}
		lastRow[a[i-1]] = i
	}
	return d[len(a)+1][len(b)+1]
}
