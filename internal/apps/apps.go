// Package apps is the MCP servers that share one service: each app a name,
// its API tokens (kept as SHA-256 digests) and optional limits, from
// OAUTH_CALLBACK_API_TOKENS and OAUTH_CALLBACK_APPS_FILE. Resolve is the
// one reading of both, for config's checks and the server alike.
package apps

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// DefaultName is the app of a token given without a name: a plain token
// list, as before apps, is one app.
const DefaultName = "default"

// minTokenLen is the shortest token accepted. Text shorter than it is no
// token, so the apps file's messages may quote it.
const minTokenLen = 16

// App is one MCP server sharing the service.
type App struct {
	Name string
	// Digests are the SHA-256 digests of its API tokens.
	Digests [][sha256.Size]byte
	// MemoryShare is the part of OAUTH_CALLBACK_MAX_MEMORY the app's
	// sign-ins (its registrations, and the callbacks of its registered
	// states) may hold, 0 < share <= 1; Resolve gives the apps that set
	// none an equal part of what the others leave.
	MemoryShare float64
	// RateLimitAPI and RateLimitRegister replace, for this app's tokens,
	// the service's per-token limits (OAUTH_CALLBACK_RATE_LIMIT_API and
	// _REGISTER, requests per minute); 0: the service's.
	RateLimitAPI, RateLimitRegister int
}

// Token is one entry of OAUTH_CALLBACK_API_TOKENS.
type Token struct {
	App    string
	Digest [sha256.Size]byte
}

// ParseToken reads one entry of OAUTH_CALLBACK_API_TOKENS: "[app=]token"
// or "[app=]sha256:<hex SHA-256 of the token>", so that a Secret need not
// hold the token itself. A name is lowercase letters, digits, - and _ (up
// to 32, starting with a letter). An entry whose part before its first "="
// is no such name, or whose rest is no token, is a token as a whole:
// base64 padding ends in "=".
func ParseToken(entry string) (Token, error) {
	if name, rest, ok := strings.Cut(entry, "="); ok && ValidName(name) {
		digest, err := TokenDigest(rest)
		if err == nil {
			return Token{App: name, Digest: digest}, nil
		}
		// The rest is no token. A "sha256:" rest was meant as a digest, and
		// an entry that is no token as a whole either is the rest's fault:
		// either way, say what is wrong with the rest.
		if _, whole := TokenDigest(entry); whole != nil || strings.HasPrefix(rest, "sha256:") {
			return Token{}, err
		}
	}
	digest, err := TokenDigest(entry)
	if err != nil {
		return Token{}, err
	}
	return Token{App: DefaultName, Digest: digest}, nil
}

// TokenDigest is the SHA-256 of a token, or the digest "sha256:<hex>" gives.
func TokenDigest(token string) ([sha256.Size]byte, error) {
	var digest [sha256.Size]byte
	if hexDigest, ok := strings.CutPrefix(token, "sha256:"); ok {
		b, err := hex.DecodeString(hexDigest)
		if err != nil || len(b) != sha256.Size {
			return digest, fmt.Errorf("sha256: must be followed by the 64 hex digits of the token's SHA-256 (printf %%s \"$TOKEN\" | sha256sum)")
		}
		copy(digest[:], b)
		return digest, nil
	}
	if len(token) < minTokenLen {
		return digest, fmt.Errorf("every token must be at least %d characters", minTokenLen)
	}
	for _, r := range token {
		if r <= ' ' || r > '~' {
			return digest, fmt.Errorf("tokens must be printable ASCII without spaces")
		}
	}
	return sha256.Sum256([]byte(token)), nil
}

// ValidName reports whether s can name an app: lowercase letters, digits,
// - and _, up to 32, starting with a letter. Names reach logs and metric
// labels, so they are kept plain.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Resolve makes the service's apps from the entries of
// OAUTH_CALLBACK_API_TOKENS and the apps of OAUTH_CALLBACK_APPS_FILE
// (ReadFile): a token of the variable joins the file's app of its name, or
// makes an app of its own. It returns every problem at once: a token given
// twice (as itself or its digest; for two apps it would name neither
// reliably), memory shares that add up to more than the whole budget, or
// leave nothing for the apps that set none. Apps come sorted by name.
func Resolve(tokens []string, file []App) ([]App, []error) {
	var errs []error
	byName := map[string]*App{}
	for _, a := range file {
		a.Digests = slices.Clone(a.Digests)
		byName[a.Name] = &a
	}
	for _, entry := range tokens {
		t, err := ParseToken(entry)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a := byName[t.App]
		if a == nil {
			a = &App{Name: t.App}
			byName[t.App] = a
		}
		a.Digests = append(a.Digests, t.Digest)
	}
	var apps []App
	for _, a := range byName {
		apps = append(apps, *a)
	}
	slices.SortFunc(apps, func(a, b App) int { return strings.Compare(a.Name, b.Name) })

	seen := map[[sha256.Size]byte]string{}
	for _, a := range apps {
		for _, d := range a.Digests {
			if other, dup := seen[d]; dup {
				errs = append(errs, fmt.Errorf("one token is given twice (apps %q and %q): give each app a token of its own", other, a.Name))
			}
			seen[d] = a.Name
		}
	}
	errs = append(errs, shareOut(apps)...)
	return apps, errs
}

// shareOut gives the apps without a MemoryShare an equal part of what the
// others leave of the whole.
func shareOut(apps []App) []error {
	given, unset := 0.0, 0
	for _, a := range apps {
		// ReadFile refuses these; an App made anywhere else must not slip
		// NaN past the comparisons below, which it fails one and all.
		if !(a.MemoryShare >= 0 && a.MemoryShare <= 1) {
			return []error{fmt.Errorf("app %q: its memory share is not a number from 0 to 1", a.Name)}
		}
		if a.MemoryShare > 0 {
			given += a.MemoryShare
		} else {
			unset++
		}
	}
	const slack = 1e-9 // shares like 0.7 + 0.2 + 0.1 add up to a hair over 1 in floating point
	switch {
	case given > 1+slack:
		return []error{fmt.Errorf("the apps' memory shares add up to %.3g, more than the whole budget (1): one app could then fill what another was promised", given)}
	case unset > 0 && given >= 1-slack:
		return []error{fmt.Errorf("the apps' memory shares add up to the whole budget, and leave nothing for the %d apps that set none", unset)}
	}
	for i := range apps {
		if apps[i].MemoryShare <= 0 {
			apps[i].MemoryShare = (1 - given) / float64(unset)
		}
	}
	return nil
}

// MemoryShares is what a store is given (callback.StoreConfig.AppShares):
// each app's share of the budget, for apps that have less than the whole.
// One app alone, as a plain token list is, holds the whole budget, and its
// stores count nothing per app.
func MemoryShares(apps []App) map[string]float64 {
	var shares map[string]float64
	for _, a := range apps {
		if a.MemoryShare > 0 && a.MemoryShare < 1 {
			if shares == nil {
				shares = map[string]float64{}
			}
			shares[a.Name] = a.MemoryShare
		}
	}
	return shares
}

// Names are the apps' names, sorted: the values of the app label on the
// metrics, which no request can add to.
func Names(apps []App) []string {
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}
