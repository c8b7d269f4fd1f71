package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/httprate"

	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

type tokenKey struct{}

// requireToken lets through only requests with Authorization: Bearer and
// one of the configured tokens; without configured tokens it lets everyone
// through. Tokens are compared as SHA-256 digests in constant time, so
// neither their content nor their length leaks through timing.
func (s *server) requireToken(next http.Handler) http.Handler {
	if len(s.tokenDigests) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="oauth-callback-server"`)
			annotate(r, logOutcome("unauthorized"))
			writeJSON(w, http.StatusUnauthorized, errorBody{"error", "Missing API token: send Authorization: Bearer <token>"})
			return
		}
		digest := sha256.Sum256([]byte(strings.TrimSpace(token)))
		match := 0
		for _, d := range s.tokenDigests {
			match |= subtle.ConstantTimeCompare(digest[:], d[:])
		}
		if match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="oauth-callback-server", error="invalid_token"`)
			annotate(r, logOutcome("unauthorized"))
			writeJSON(w, http.StatusUnauthorized, errorBody{"error", "Invalid API token"})
			return
		}
		// Rate limits count per token: a short, non-reversible name for it.
		id := "token:" + hex.EncodeToString(digest[:8])
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, id)))
	})
}

// rateLimit allows perMinute requests per key (the caller's token, else its
// IP) on this replica; 0 turns the limit off. Over it: 429 with Retry-After.
func (s *server) rateLimit(perMinute int, page bool) func(http.Handler) http.Handler {
	if perMinute <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return httprate.LimitBy(perMinute, time.Minute,
		func(r *http.Request) (string, error) {
			if id, ok := r.Context().Value(tokenKey{}).(string); ok {
				return id, nil
			}
			return "ip:" + httprate.CanonicalizeIP(s.clientIP(r)), nil
		},
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			annotate(r, logOutcome("rate_limited"))
			if page {
				s.metrics.CallbackReceived("rate_limited")
				s.pages.Write(w, http.StatusTooManyRequests, rateLimitedPage)
				return
			}
			writeJSON(w, http.StatusTooManyRequests, errorBody{"error", "Too many requests, retry later"})
		}),
	)
}

var rateLimitedPage = page.Content{
	Kind:    page.Failure,
	Title:   "Too many sign-in attempts",
	Message: "Too many sign-in responses came from your network. Wait a minute, then start again from your application.",
}

// clientIP is the address that rate limits count against: the direct peer,
// unless the peer is a trusted proxy, in which case the right-most address
// in X-Forwarded-For that is not itself a trusted proxy. A client cannot
// pick its own bucket by sending the header: from an untrusted peer the
// header is ignored.
func (s *server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing to its left
		}
		if !s.trusted(addr) {
			return addr.String()
		}
	}
	return host
}

func (s *server) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
