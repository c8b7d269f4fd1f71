package httpapi

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/httprate"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// SharedLimiter counts rate limits for every replica together: Allow
// counts one request for key against perMinute and says whether it is
// within the limit, and if not, when the next one will be. The Redis store
// is one (redis_rate); the memory store, which serves one replica, is not.
type SharedLimiter interface {
	Allow(ctx context.Context, key string, perMinute int) (allowed bool, retryAfter time.Duration, err error)
}

// limiter is one rate limit (callback, api, register) of perMinute: local
// counts it on this replica, and, when the count is shared on Redis, flood
// refuses on this replica alone what the shared count could not admit
// either, and names gives a client's count its names there.
type limiter struct {
	name         string
	perMinute    int
	local, flood *httprate.RateLimiter
	names        []callback.StateHasher
}

// floodFactor: GCRA with a burst of the limit admits at most twice the
// limit in any minute, so a client that one replica alone has let through
// twice the limit in the last minute is over the shared limit whatever
// Redis would answer; the requests past that are refused here. Clients at
// or below the limit never meet it.
const floodFactor = 2

// localLimitsFor is how long a replica counts its limits alone after the
// shared limiter failed, before it asks Redis again: a Redis that is gone
// costs one store timeout every few seconds, not one per request.
const localLimitsFor = 5 * time.Second

// rateLimit allows perMinute requests per key a minute, 0 turning the limit
// off: for every replica together when the store is a SharedLimiter (and
// RateLimits.Shared is on), else on this replica. name keeps the limits
// apart in the shared count. An app's own limit (perApp, when it gives
// one; nil: none) replaces perMinute for its tokens. Over it:
// errRateLimited, with the Retry-After the count gave.
func (s *server) rateLimit(name string, perMinute int, key limitKey, perApp func(apps.App) int) func(http.Handler) http.Handler {
	names := s.sharedLimitNames()
	byApp := map[string]limiter{}
	for _, a := range s.opts.Apps {
		if perApp != nil && perApp(a) > 0 {
			byApp[a.Name] = newLimiter(name, perApp(a), names)
		}
	}
	if perMinute <= 0 && len(byApp) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	service := newLimiter(name, perMinute, names)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l := service
			if caller, ok := r.Context().Value(callerKey{}).(apiCaller); ok {
				if own, ok := byApp[caller.app]; ok {
					l = own
				}
			}
			if l.perMinute > 0 && s.overLimit(w, r, l, s.limitBucket(r, key)) {
				s.writeError(w, r, errRateLimited)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// newLimiter is one limit's counters (none for a perMinute of 0: off).
func newLimiter(name string, perMinute int, names []callback.StateHasher) limiter {
	l := limiter{name: name, perMinute: perMinute, names: names}
	if perMinute > 0 {
		l.local = httprate.NewRateLimiter(perMinute, time.Minute)
		// No headers of its own: the client's limit is perMinute.
		l.flood = httprate.NewRateLimiter(floodFactor*perMinute, time.Minute, httprate.WithResponseHeaders(httprate.ResponseHeaders{}))
	}
	return l
}

// limitBucket is what a request counts against: its token, or its client's
// network.
func (s *server) limitBucket(r *http.Request, key limitKey) string {
	if caller, ok := r.Context().Value(callerKey{}).(apiCaller); ok && key == byTokenOrIP {
		return caller.id
	}
	return "ip:" + clientKey(s.clientIP(r))
}

// overLimit counts the request and reports whether it is over the limit.
// When the shared count cannot be had (Redis is gone or slow), the replica
// counts alone for localLimitsFor: a client then gets up to the limit on
// each replica, which is the choice SECURITY.md explains; it is counted in
// oauth_callback_rate_limits_local_total and logged once a minute.
func (s *server) overLimit(w http.ResponseWriter, r *http.Request, l limiter, bucket string) bool {
	if s.sharedLimits == nil {
		return l.local.OnLimit(w, r, bucket)
	}
	if l.flood.OnLimit(w, r, bucket) {
		// Past what the shared limit could admit in a minute, seen by
		// this replica alone: refused without asking Redis, so that one
		// client's flood costs Redis nothing.
		return true
	}
	perMinute, local := l.perMinute, l.local
	if now := time.Now(); now.UnixNano() >= s.localLimitsUntil.Load() {
		ctx, cancel := r.Context(), context.CancelFunc(func() {})
		if s.opts.StoreTimeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, s.opts.StoreTimeout)
		}
		allowed, retry, err := s.allowShared(ctx, l, bucket)
		cancel()
		if err == nil {
			w.Header().Set("X-RateLimit-Limit", strconv.Itoa(perMinute)) // as the replica's own count says it
			if !allowed {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
			}
			return !allowed
		}
		s.localLimitsUntil.Store(now.Add(localLimitsFor).UnixNano())
		if s.localLimitsWarning.due(now) {
			s.log.Warn("rate limits are counted per replica: the shared count on Redis could not be had; Redis is asked again every few seconds",
				slog.Any("error", err), slog.Duration("retry_in", localLimitsFor))
		}
	}
	s.metrics.RateLimitCountedLocally()
	return local.OnLimit(w, r, bucket)
}

// sharedLimitNames are the names a client's shared count goes by: the
// bucket (a client address, a token's digest) hashed with a server secret,
// as states are, so that Redis's key names show neither. One name per
// secret (OAUTH_CALLBACK_ENCRYPTION_KEY's list, which BindingSecrets
// holds), the first key's first: the replicas side by side in a step of a
// key rotation ([old] beside [old,new], [old,new] beside [new,old],
// [new,old] beside [new]; or [old] beside [new,old] when step 1 is
// skipped) always share a key, and so a name, whereas counts under each
// replica's first key alone would split in two and let a client through
// twice its limit. Without secrets, StateHasher's one name.
func (s *server) sharedLimitNames() []callback.StateHasher {
	if len(s.opts.BindingSecrets) == 0 {
		return []callback.StateHasher{s.opts.StateHasher}
	}
	var names []callback.StateHasher
	seen := map[string]bool{}
	for _, secret := range s.opts.BindingSecrets {
		if !seen[string(secret)] { // a key listed twice would count each request twice
			seen[string(secret)] = true
			names = append(names, callback.NewStateHasher(secret))
		}
	}
	return names
}

// allowShared counts the request under each of the client's names in the
// shared count and allows it only if every one does: each name's count
// then holds the client to its limit on the replicas that share it, and
// the replicas of a rotation share one. It stops at the first refusal, so
// a refused request costs the names after it nothing; one server secret,
// the usual case, costs one call to Redis, a rotation one per key.
func (s *server) allowShared(ctx context.Context, l limiter, bucket string) (allowed bool, retryAfter time.Duration, err error) {
	for _, name := range l.names {
		allowed, retryAfter, err = s.sharedLimits.Allow(ctx, l.name+":"+name.Hash(bucket), l.perMinute)
		if err != nil || !allowed {
			return allowed, retryAfter, err
		}
	}
	return true, 0, nil
}

// An app's own limits (OAUTH_CALLBACK_APPS_FILE), for rateLimit.
func apiLimitOf(a apps.App) int      { return a.RateLimitAPI }
func registerLimitOf(a apps.App) int { return a.RateLimitRegister }
