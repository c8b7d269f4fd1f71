package units_test

import (
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

// Redis's own spelling (64mb, used in compose and redis.conf) means what
// 64MiB means; a lone lowercase m, which Redis reads as a million bytes,
// is refused rather than read differently.
func TestBytesReadsRedissSpellingAsWellAsOurs(t *testing.T) {
	for v, want := range map[string]int64{
		"64MiB": 64 << 20, "64MB": 64 << 20, "64M": 64 << 20, "64mb": 64 << 20, "64mib": 64 << 20, "64Mb": 64 << 20,
		"512kb": 512 << 10, "2gb": 2 << 30, "1GiB": 1 << 30, "3 MiB": 3 << 20, "1048576": 1 << 20, "100b": 100, "100B": 100,
	} {
		got, err := units.Bytes(v)
		if err != nil || got != want {
			t.Errorf("Bytes(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"64m", "64k", "1g", "64 mega", "-1MiB", "MiB", "64MiBs"} {
		if got, err := units.Bytes(v); err == nil {
			t.Errorf("Bytes(%q) = %d, want an error", v, got)
		}
	}
}
