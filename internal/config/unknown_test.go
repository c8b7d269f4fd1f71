package config_test

import (
	"reflect"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
)

func TestUnknownVariablesAreNamedWithTheClosestKnownOne(t *testing.T) {
	got := config.UnknownVariables([]string{
		"OAUTH_CALLBACK_REDIS_ULR=redis://r:6379", // transposed
		"OAUTH_CALLBACK_PORT=8000",                // known
		"OAUTH_CALLBACK_API_TOKEN=tok",            // one letter short
		"OAUTH_CALLBACK_SOMETHING_ELSE=1",         // nothing close
		"PATH=/usr/bin",                           // not ours
		"OAUTH_CALLBACK_REDIS_ULR=again",          // once
	})
	want := []config.Unknown{
		{Name: "OAUTH_CALLBACK_API_TOKEN", Closest: "OAUTH_CALLBACK_API_TOKENS"},
		{Name: "OAUTH_CALLBACK_REDIS_ULR", Closest: "OAUTH_CALLBACK_REDIS_URL"},
		{Name: "OAUTH_CALLBACK_SOMETHING_ELSE"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
