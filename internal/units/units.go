// Package units reads and writes the durations and sizes of the settings
// and the API: a Go duration or a bare number of seconds, and a number of
// bytes with an optional KiB, MiB or GiB suffix.
package units

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration reads a Go duration, or a bare number as seconds.
func Duration(v string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("not a duration (use e.g. 10m, 30s, 250ms, or a number of seconds)")
	}
	return d, nil
}

// Bytes reads a size in bytes: a whole number, optionally with a
// KiB, MiB or GiB suffix (KB, MB, GB and K, M, G mean the same here). The
// two- and three-letter suffixes take any case, so that Redis's own 64mb
// (which Redis also reads as 64 MiB) is understood; a lone k, m or g is
// refused, since Redis reads 1m as a million bytes.
func Bytes(v string) (int64, error) {
	units := []struct {
		suffixes []string
		factor   int64
	}{
		{[]string{"GiB", "GB", "G"}, 1 << 30},
		{[]string{"MiB", "MB", "M"}, 1 << 20},
		{[]string{"KiB", "KB", "K"}, 1 << 10},
		{[]string{"B", ""}, 1},
	}
	for _, u := range units {
		for _, suffix := range u.suffixes {
			number, ok := cutSuffix(v, suffix)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(number), 10, 64)
			if err != nil || n < 0 || n > (1<<62)/u.factor {
				return 0, fmt.Errorf("not a size (use e.g. 64MiB, 512KiB, or a number of bytes)")
			}
			return n * u.factor, nil
		}
	}
	return 0, fmt.Errorf("not a size (use e.g. 64MiB, 512KiB, or a number of bytes)")
}

// cutSuffix is strings.CutSuffix, ignoring case for suffixes of two
// letters or more (and for B).
func cutSuffix(v, suffix string) (string, bool) {
	if len(suffix) == 1 && suffix != "B" {
		return strings.CutSuffix(v, suffix)
	}
	if len(v) < len(suffix) || !strings.EqualFold(v[len(v)-len(suffix):], suffix) {
		return v, false
	}
	return v[:len(v)-len(suffix)], true
}

// FormatBytes writes n with the largest unit that divides it.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<40 && n%(1<<40) == 0:
		return fmt.Sprintf("%dTiB", n>>40)
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
