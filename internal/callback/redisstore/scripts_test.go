package redisstore

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The scripts spell no value of their own: every field, marker and reply
// they compare or write is a Go constant handed over by header, or an
// argument. Their only literals are Redis's command names and options,
// the empty string and zero.
func TestScriptsSpellNoValueOfTheirOwn(t *testing.T) {
	allowed := []string{"", "0", "GET", "SET", "PX", "KEEPTTL", "DEL", "RENAME", "PEXPIRE", "HGET", "HMGET", "HSET", "HDEL", "HINCRBY"}
	comment := regexp.MustCompile(`--.*`)
	literal := regexp.MustCompile(`'([^']*)'|"([^"]*)"`)
	for name, src := range map[string]string{"step.lua": stepLua, "catchup.lua": catchUpLua} {
		for i, line := range strings.Split(src, "\n") {
			for _, m := range literal.FindAllStringSubmatch(comment.ReplaceAllString(line, ""), -1) {
				if v := m[1] + m[2]; !slices.Contains(allowed, v) {
					t.Errorf("%s:%d spells %q itself: %s", name, i+1, v, line)
				}
			}
		}
	}
}
