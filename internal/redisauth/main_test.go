package redisauth_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
)

// TestMain routes go-redis's own lines as the service does, one of each
// kind every 10 s: re-authentication makes go-redis say, for every
// connection, that it skipped it while it was being signed in again.
func TestMain(m *testing.M) {
	redisstore.RouteClientLogs(slog.New(slog.NewTextHandler(os.Stderr, nil)), 10*time.Second)
	os.Exit(m.Run())
}
