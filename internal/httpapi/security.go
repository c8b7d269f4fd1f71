package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// callerKey holds the apiCaller of a request that passed the token check.
type callerKey struct{}

// apiCaller is who sent an /api request: the token's short name (for the
// rate limits) and the app it belongs to (for the logs and the stores).
type apiCaller struct{ id, app string }

// tokenCheck is what a request's bearer token turned out to be.
type tokenCheck int

const (
	tokenValid   tokenCheck = iota // one of the configured tokens, or none is configured
	tokenMissing                   // no Authorization: Bearer header
	tokenInvalid                   // a token, but not one of them
)

// checkToken checks the request's token. It is checked before any count
// of failures: wrong tokens sent from an address (a NAT, an egress, an IPv6
// /56) never lock out a valid token sent from it.
func (s *server) checkToken(r *http.Request) (caller apiCaller, check tokenCheck) {
	if len(s.tokens) == 0 {
		return apiCaller{}, tokenValid
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return apiCaller{}, tokenMissing
	}
	if caller, valid := s.tokenID(token); valid {
		return caller, tokenValid
	}
	return apiCaller{}, tokenInvalid
}

// failedToken counts a request refused for its token against the client's
// network, and reports whether that is past the API's rate limit. What
// stops a guesser is the token's length (16+ characters); the count bounds
// the noise, and its 429 tells a misconfigured client to stop.
func (s *server) failedToken(w http.ResponseWriter, r *http.Request) (limited bool) {
	if s.tokenFailures == nil {
		return false
	}
	return s.tokenFailures.OnLimit(w, r, "ip:"+clientKey(s.clientIP(r)))
}

// errTokensLimited: past the limit on wrong or missing tokens.
var errTokensLimited = refused(errRateLimited, "Too many requests with a wrong or missing token, retry later")

// requireToken lets through only requests with Authorization: Bearer and
// one of the configured tokens; without configured tokens it lets everyone
// through.
func (s *server) requireToken(next http.Handler) http.Handler {
	if len(s.tokens) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, check := s.checkToken(r)
		switch {
		case check == tokenValid:
			annotate(r, slog.String("app", caller.app))
			if info := infoOf(r); info != nil {
				info.app = caller.app // for the metrics: a configured app's name
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
		case s.failedToken(w, r):
			s.writeError(w, r, errTokensLimited)
		case check == tokenMissing:
			s.writeError(w, r, errTokenMissing)
		default:
			s.writeError(w, r, errTokenInvalid)
		}
	})
}

// appOf is whose request r is, for the store calls it makes: the app of
// its token, or AnyApp when no tokens are configured. A request that did
// not pass the token check, with tokens configured, is no app's (the zero
// App), which every store call refuses: forgetting the check fails closed.
func (s *server) appOf(r *http.Request) callback.App {
	if len(s.tokens) == 0 {
		return callback.AnyApp()
	}
	if caller, ok := r.Context().Value(callerKey{}).(apiCaller); ok {
		return callback.AppNamed(caller.app)
	}
	return callback.App{}
}

// tokenID checks a presented token against the configured ones and names
// it for the rate limits (a short, non-reversible name) and the logs (its
// app). Tokens are compared as SHA-256 digests in constant time, every one
// of them, so neither their content, their length nor which one matched
// leaks through timing.
func (s *server) tokenID(token string) (apiCaller, bool) {
	digest := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match, at := 0, 0
	for i, t := range s.tokens {
		m := subtle.ConstantTimeCompare(digest[:], t.Digest[:])
		at = subtle.ConstantTimeSelect(m, i, at) // no branch on which one matched
		match |= m
	}
	if match != 1 {
		return apiCaller{}, false
	}
	return apiCaller{id: "token:" + hex.EncodeToString(digest[:8]), app: s.tokens[at].App}, true
}

// The keys the rate limits count by.
type limitKey int

const (
	byTokenOrIP limitKey = iota // /api after the token check: per token, else per client network
	byNetwork                   // per client network: the address, IPv6 per /56 (one household or site)
)

// clientKey is the bucket of a client address: the address itself, or for
// IPv6 its /56, since one IPv6 client (a household, a site, a cloud VM)
// holds a whole prefix and could otherwise pick a fresh bucket per request.
// A string that is no address (a hop that did not parse) is its own bucket.
func clientKey(client string) string {
	addr, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 56).Masked().String()
}

// clientIP is the address that rate limits count against: the direct peer,
// unless the peer is a trusted proxy, in which case the right-most hop in
// X-Forwarded-For that is not itself a trusted proxy. A client cannot
// pick its own bucket by sending the header: from an untrusted peer the
// header is ignored. Hops may carry a port (Azure Application Gateway
// sends 203.0.113.7:51234 and [2001:db8::1]:443); a hop that still does
// not parse is the key as it is, never the proxy's address, which every
// such client would share.
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
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		addr, ok := parseHop(hop)
		if !ok {
			if len(hop) > maxHopKey {
				hop = hop[:maxHopKey]
			}
			return "unparsed:" + hop // trust nothing to its left
		}
		if !s.trusted(addr) {
			return addr.String()
		}
	}
	return host
}

// maxHopKey bounds a rate-limit key made of an unparsed hop.
const maxHopKey = 64

// parseHop reads one X-Forwarded-For hop: an address, with or without a
// port.
func parseHop(hop string) (netip.Addr, bool) {
	if addr, err := netip.ParseAddr(hop); err == nil {
		return addr.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func (s *server) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
