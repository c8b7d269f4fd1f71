package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
)

// BenchmarkCycle is one callback→take cycle through the handler (no
// network), with JSON request logs as in production.
func BenchmarkCycle(b *testing.B) {
	store := memstore.New(callback.StoreConfig{TTL: 10 * time.Minute}, memstore.Config{MaxEntries: 1 << 30})
	b.Cleanup(func() { store.Close() })
	h := httpapi.NewServer(store, slog.New(slog.NewJSONHandler(io.Discard, nil)), metrics.New(), httpapi.Options{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		state := "bench-" + strconv.Itoa(i)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?code=bench-code&state="+state, nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/callback/"+state, nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
