package redisstore

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientConfig is how to reach Redis.
type ClientConfig struct {
	// URL is a redis://, rediss:// or unix:// URL in go-redis's syntax.
	URL string
	// Password, when set, replaces the URL's, so that it can live in a
	// Kubernetes Secret apart from the URL.
	Password string
	// Timeout bounds dialling, every read and write, and the wait for a
	// pooled connection, so a Redis that is gone costs a request at most
	// about this long.
	Timeout time.Duration
}

// NewClient builds the client the Store runs on.
//
// Commands are never retried: a GETDEL whose reply was lost has already
// deleted the callback, and a retry would answer "not found" for a code
// that nobody received.
func NewClient(cfg ClientConfig) (redis.UniversalClient, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse Redis URL: %w", err)
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	opts.MaxRetries = -1
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	return redis.NewClient(opts), nil
}

// MinVersion is the oldest Redis with GETDEL.
const MinVersion = "6.2.0"

// CheckVersion fails unless the server is Redis ≥ 6.2 (or a fork that
// reports such a redis_version, like Valkey).
func CheckVersion(ctx context.Context, client redis.UniversalClient) error {
	info, err := client.Info(ctx, "server").Result()
	if err != nil {
		return unavailable("read server version", err)
	}
	v := infoField(info, "redis_version")
	if v == "" {
		return fmt.Errorf("redis did not report redis_version in INFO server")
	}
	ok, err := atLeast(v, MinVersion)
	if err != nil {
		return fmt.Errorf("redis reported version %q: %w", v, err)
	}
	if !ok {
		return fmt.Errorf("redis %s is too old: GETDEL needs Redis %s or newer", v, MinVersion)
	}
	return nil
}

func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// atLeast compares dotted numeric versions ("7.0.15" ≥ "6.2.0").
func atLeast(version, min string) (bool, error) {
	parse := func(s string) ([3]int, error) {
		var out [3]int
		parts := strings.SplitN(s, ".", 3)
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				return out, fmt.Errorf("not a version number")
			}
			out[i] = n
		}
		return out, nil
	}
	v, err := parse(version)
	if err != nil {
		return false, err
	}
	m, err := parse(min)
	if err != nil {
		return false, err
	}
	for i := range v {
		if v[i] != m[i] {
			return v[i] > m[i], nil
		}
	}
	return true, nil
}
