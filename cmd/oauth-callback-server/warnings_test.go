package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
)

// Redis without a server secret is a warning, not an info line: key names
// are then an unkeyed hash, and short states can be found from a key scan.
func TestStartupWarnsAboutRedisWithoutAnEncryptionKey(t *testing.T) {
	t.Parallel()
	warnings := func(cfg config.Config) string {
		var buf bytes.Buffer
		warnAboutOpenSettings(cfg, slog.New(slog.NewTextHandler(&buf, nil)))
		return buf.String()
	}
	redis := config.Default()
	redis.Redis.URL = "redis://127.0.0.1:6379"
	redis.HTTP.StateMinLength = 32
	redis.HTTP.Apps = []apps.App{{Name: apps.DefaultName, Digests: [][32]byte{{1}}}}
	if got := warnings(redis); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "OAUTH_CALLBACK_ENCRYPTION_KEY") {
		t.Errorf("no warning for Redis without a key:\n%s", got)
	}
	redis.EncryptionKeys = []string{"0123456789abcdef0123456789abcdef"}
	if got := warnings(redis); got != "" {
		t.Errorf("warnings for a strict configuration:\n%s", got)
	}
}
