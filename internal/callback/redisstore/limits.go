package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Allow counts one request against the limit of perMinute a minute for key,
// for every replica on this Redis together (httpapi's SharedLimiter), and
// says whether it is within it and, when not, how long until the next one
// is. The limiter is go-redis's redis_rate: GCRA, one key per limit (so it
// works on Redis Cluster), one script call per request, the clock Redis's
// own. A limit of N a minute admits a burst of N, then one request every
// minute/N.
func (s *Store) Allow(ctx context.Context, key string, perMinute int) (bool, time.Duration, error) {
	res, err := s.limiter.Allow(ctx, key, redis_rate.PerMinute(perMinute))
	if err != nil {
		return false, 0, storeError("rate limit", err)
	}
	return res.Allowed > 0, res.RetryAfter, nil
}

// limitKeys hands redis_rate the client with its keys renamed: redis_rate
// names them rate:<key>, which would fall outside the key prefix (and an ACL
// user's key pattern, and another deployment's share of one Redis); here
// they are <prefix>rate:<key>.
type limitKeys struct {
	redis.UniversalClient
	prefix string
}

func (l limitKeys) rename(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = l.prefix + "rate:" + strings.TrimPrefix(k, "rate:")
	}
	return out
}

func (l limitKeys) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return l.UniversalClient.Eval(ctx, script, l.rename(keys), args...)
}

func (l limitKeys) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return l.UniversalClient.EvalSha(ctx, sha1, l.rename(keys), args...)
}

func (l limitKeys) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return l.UniversalClient.EvalRO(ctx, script, l.rename(keys), args...)
}

func (l limitKeys) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return l.UniversalClient.EvalShaRO(ctx, sha1, l.rename(keys), args...)
}

func (l limitKeys) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return l.UniversalClient.Del(ctx, l.rename(keys)...)
}
