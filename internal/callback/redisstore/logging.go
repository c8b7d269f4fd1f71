package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RouteClientLogs sends go-redis's own log lines (a failed dial, a Sentinel
// switching primaries) through log, so that a pipeline parsing the
// service's JSON lines does not break on them. Each kind of line is
// written at most once per interval, with the number left out since; while
// Redis is down, go-redis repeats them dozens of times a second. go-redis
// has one logger per process: the last call wins.
func RouteClientLogs(log *slog.Logger, interval time.Duration) {
	redis.SetLogger(&clientLogger{log: log, interval: interval, last: map[string]time.Time{}, left: map[string]int{}})
}

type clientLogger struct {
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	last map[string]time.Time // by format: go-redis's formats are constants
	left map[string]int       // lines not written since
}

func (l *clientLogger) Printf(ctx context.Context, format string, v ...any) {
	now := time.Now()
	l.mu.Lock()
	if at, ok := l.last[format]; ok && now.Sub(at) < l.interval {
		l.left[format]++
		l.mu.Unlock()
		return
	}
	left := l.left[format]
	l.last[format], l.left[format] = now, 0
	l.mu.Unlock()

	msg := fmt.Sprintf(format, v...)
	level := slog.LevelInfo
	if strings.Contains(msg, "fail") || strings.Contains(msg, "error") || strings.Contains(msg, "refused") {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("detail", msg)}
	if left > 0 {
		attrs = append(attrs, slog.Int("similar_lines_left_out", left))
	}
	l.log.LogAttrs(ctx, level, "redis client", attrs...)
}
