package main

import (
	"context"
	"crypto/sha1" // #nosec G505 -- Redis names a script by its SHA-1; nothing is protected by it
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

// serverlessMaxArguments is the most arguments ElastiCache Serverless
// takes in one request (its client-query-buffer-limit entry in
// "Valkey and Redis OSS configuration and limits"); a longer one is
// refused, and with it the sign-in that sent it.
const serverlessMaxArguments = 3999

// onElastiCacheServerless: the configuration says so (REDIS_AUTH=aws for
// a serverless cache), or an address is a serverless cache's endpoint
// (<name>-<id>.serverless.<region>.cache.amazonaws.com), as with a
// password.
func onElastiCacheServerless(cfg config.Config) bool {
	if cfg.Redis.Auth == redisstore.AuthAWS && cfg.RedisAWS.Service == redisauth.AWSElastiCacheServerless {
		return true
	}
	hosts := []string{}
	if u, err := url.Parse(cfg.Redis.URL); err == nil && cfg.Redis.URL != "" {
		hosts = append(hosts, u.Hostname())
	}
	for _, addr := range cfg.Redis.ClusterAddrs {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			hosts = append(hosts, host)
		}
	}
	for _, h := range hosts {
		h = strings.ToLower(h)
		if strings.Contains(h, ".serverless.") && strings.HasSuffix(h, ".cache.amazonaws.com") {
			return true
		}
	}
	return false
}

// checkManagedCache holds the store's requests to the documented limits
// of the managed cache it runs on, before a sign-in meets them; from the
// configuration alone, so it says so even when Redis cannot be reached.
func checkManagedCache(cfg config.Config) []finding {
	if !cfg.UsesRedis() || !onElastiCacheServerless(cfg) {
		return nil
	}
	n := redisstore.CatchUpArguments(cfg.Store)
	if n > serverlessMaxArguments {
		return []finding{{"store", statusFail, fmt.Sprintf("ElastiCache Serverless takes at most %d arguments in a request, and the store's budget catch-up sends %d (two per app with a memory_share): the sign-ins of a partition would fail once it runs; give fewer apps a memory_share, or use a node-based cache", serverlessMaxArguments, n)}}
	}
	return []finding{{"store", statusOK, fmt.Sprintf("ElastiCache Serverless: the budget catch-up, the one request that grows with the apps, has %d arguments, below its cap of %d", n, serverlessMaxArguments)}}
}

// serverlessEvictionPolicy: ElastiCache Serverless fixes its policy
// (volatile-lru), so check warns instead of failing, and says what keeps
// the callbacks from being evicted there: room up to the cache's maximum.
func serverlessEvictionPolicy(cfg config.Config, facts redisstore.Facts) []finding {
	room := units.FormatBytes(callback.MinMaxmemory(cfg.Store.MaxBytes))
	return []finding{{"store", statusWarn, fmt.Sprintf("ElastiCache Serverless fixes maxmemory-policy at %s, which evicts the service's keys (each has a TTL) when full; it cannot be set to noeviction. The cache scales its memory up to its configured maximum and evicts only there, so set the cache's maximum data storage above %s (%s OAUTH_CALLBACK_MAX_MEMORY, %s) and keep the cache for this service alone: the byte budget then refuses new callbacks (503) before the cache evicts one", facts.Policy, room, callback.MaxmemoryRule, units.FormatBytes(cfg.Store.MaxBytes))}}
}

// fixedEvictionPolicy says, beside the failure an evicting policy gets,
// what can be done about it on a managed cache where the operator may not
// be able to set noeviction by default.
func fixedEvictionPolicy(cfg config.Config, facts redisstore.Facts) []finding {
	if facts.Policy == "noeviction" || facts.Policy == "" {
		return nil
	}
	room := units.FormatBytes(callback.MinMaxmemory(cfg.Store.MaxBytes))
	switch {
	case cfg.Redis.Auth == redisstore.AuthGCP:
		return []finding{{"store", statusWarn, fmt.Sprintf("on Memorystore for Redis Cluster, set the policy with gcloud redis clusters update <cluster> --update-redis-config maxmemory-policy=noeviction; where it cannot be set, keep the instance for this service alone with well over %s (%s OAUTH_CALLBACK_MAX_MEMORY) of memory", room, callback.MaxmemoryRule)}}
	}
	return nil
}

// probeScript is the script the probe loads and calls: it reads nothing.
const probeScript = "return 1"

// probeCommands sends, once each, the kinds of command the store sends,
// on a key of its prefix: a command a managed cache does not offer, or
// the user's ACL (an IAM user's access string) does not allow, answers
// NOPERM or "unknown command" here, named, and not in a sign-in. The key
// is written with a 10 s expiry and taken again at once.
func probeCommands(ctx context.Context, cfg config.Config, client redis.UniversalClient) []finding {
	key := cfg.Redis.KeyPrefix + "{check}:probe"
	sum := sha1.Sum([]byte(probeScript)) // #nosec G401 -- see the import
	publish := "PUBLISH"
	if cfg.Redis.Cluster() {
		publish = "SPUBLISH"
	}
	probes := []struct {
		name string
		args []any
	}{
		{"SET … PX", []any{"SET", key, "check", "PX", 10000}},
		{"GETDEL", []any{"GETDEL", key}},
		{"EVAL", []any{"EVAL", probeScript, 1, key}},
		{"EVALSHA", []any{"EVALSHA", hex.EncodeToString(sum[:]), 1, key}},
		{publish, []any{publish, key, "check"}},
	}
	if cfg.Redis.MinReplicas > 0 {
		probes = append(probes, struct {
			name string
			args []any
		}{"WAIT", []any{"WAIT", 0, 100}})
	}
	var names []string
	for _, p := range probes {
		if err := client.Do(ctx, p.args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			return []finding{{"store", statusFail, fmt.Sprintf("Redis refuses %s, which the store sends: %v; on a managed cache, allow it in the user's access string (ACL) or check that the service offers it (docs/deployment.md, Managed Redis services)", p.name, err)}}
		}
		names = append(names, p.name)
	}
	return []finding{{"store", statusOK, fmt.Sprintf("Redis takes the kinds of command the store sends, on its keys (%s…): %s", cfg.Redis.KeyPrefix, strings.Join(names, ", "))}}
}
