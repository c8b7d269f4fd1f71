package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

// requestedWait reads how long the client is willing to wait: ?wait=25s (a
// Go duration or seconds) or the RFC 7240 header Prefer: wait=25 (seconds).
// The query wins when both are given. Asks beyond max are capped; malformed
// ones are an error. fromPrefer says whether to answer Preference-Applied.
func requestedWait(r *http.Request, max time.Duration) (wait time.Duration, fromPrefer bool, err error) {
	q := r.URL.Query()
	if vs, ok := q["wait"]; ok {
		if len(vs) != 1 {
			return 0, false, badRequest("Give wait once")
		}
		d, err := units.Duration(vs[0])
		if err != nil || d < 0 {
			return 0, false, badRequest("Invalid wait: use a duration like 25s, or a number of seconds")
		}
		return min(d, max), false, nil
	}
	for _, header := range r.Header.Values("Prefer") {
		for _, pref := range strings.Split(header, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			value, _, _ = strings.Cut(value, ";") // preference parameters do not apply to wait
			secs, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(value), `"`), 10, 32)
			if err != nil {
				return 0, false, badRequest("Invalid Prefer: wait: use a whole number of seconds, like wait=25")
			}
			return min(time.Duration(secs)*time.Second, max), true, nil
		}
	}
	return 0, false, nil
}

// formatSeconds renders a wait for Preference-Applied (delta-seconds).
func formatSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}
