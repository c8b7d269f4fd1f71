package legacy

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The markers, classes and the fingerprint's length are Go constants handed
// to the scripts by prelude: no script spells one of them alone, where it
// could drift from the Go code that writes or reads the same keys.
func TestScriptsSpellNoMarkerOfTheirOwn(t *testing.T) {
	sources := map[string]string{
		"accounting.lua": accountingLua, "put.lua": putLua, "take.lua": takeLua, "register.lua": registerLua,
		"cluster_admit.lua": clusterAdmitLua, "cluster_release.lua": clusterReleaseLua, "start.lua": startLua,
		"status.lua": statusLua, "cancel.lua": cancelLua,
	}
	values := []string{tombstoneTaken, tombstoneConflict, tombstoneCancelled, linkMarker, linkNotOpened, linkOpened,
		linkNotOpened[:1], classUnregistered, classRegistered, classRegistration}
	comment := regexp.MustCompile(`--.*`)
	for name, src := range sources {
		for _, line := range strings.Split(src, "\n") {
			line = comment.ReplaceAllString(line, "")
			for _, v := range values {
				for _, literal := range []string{"'" + v + "'", `"` + v + `"`, "'" + v + ":'"} {
					if regexp.MustCompile(regexp.QuoteMeta(literal)).MatchString(line) {
						t.Errorf("%s spells %s itself: %q", name, literal, line)
					}
				}
			}
			if regexp.MustCompile(`\b` + strconv.Itoa(fingerprintLen) + `\b`).MatchString(line) {
				t.Errorf("%s spells the fingerprint's length itself: %q", name, line)
			}
		}
	}
}
