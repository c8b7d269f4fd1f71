package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// autoPipelined is a client whose script calls (every store operation's,
// and the shared rate limits') go through go-redis's auto-pipeliner, which
// writes the calls of concurrent requests to Redis as one pipeline: fewer
// system calls for the service and for Redis (docs/benchmarks.md, "go-redis
// auto-pipelining"). Everything else (WAIT's pipelines, the subscription,
// loading scripts) stays on the plain client.
//
// What it changes when Redis fails: a call waiting in a batch runs on the
// pipeliner's own context, so Config.Timeout no longer bounds it; the
// socket timeouts (the same Timeout) do, for each batch it waits behind.
// Commands are still never retried: MaxRetries -1 applies to the batches
// of a plain client's auto-pipeliner.
type autoPipelined struct {
	redis.UniversalClient
	ap *redis.AutoPipeliner
}

func (c autoPipelined) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return c.ap.EvalSha(ctx, sha, keys, args...)
}

func (c autoPipelined) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.ap.Eval(ctx, script, keys, args...)
}

// withAutoPipeline wraps c when on is set.
func withAutoPipeline(c redis.UniversalClient, on bool) (redis.UniversalClient, error) {
	if !on {
		return c, nil
	}
	var ap *redis.AutoPipeliner
	var err error
	switch cl := c.(type) {
	case *redis.Client:
		ap, err = cl.AutoPipeline()
	default:
		// Not a ClusterClient: go-redis's Cluster auto-pipeliner replays
		// the commands a connection failure left unanswered (its budget is
		// MaxRedirects, whatever MaxRetries says), and a take must run once
		// (config.Load refuses the combination).
		err = fmt.Errorf("a %T cannot auto-pipeline", c)
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis auto-pipelining: %w", err)
	}
	return autoPipelined{c, ap}, nil
}
