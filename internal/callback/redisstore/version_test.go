package redisstore

import "testing"

func TestAtLeast(t *testing.T) {
	tests := []struct {
		version string
		want    bool
		wantErr bool
	}{
		{"6.2.0", false, false},
		{"7.0", true, false},
		{"7.0.15", true, false},
		{"7.2.4", true, false}, // Valkey 8.1's redis_version
		{"10.0.0", true, false},
		{"6.0.20", false, false},
		{"5.0.14", false, false},
		{"6.1.99", false, false},
		{"seven", false, true},
	}
	for _, tt := range tests {
		got, err := atLeast(tt.version, MinVersion)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("atLeast(%q): got %v, %v; want %v, error %v", tt.version, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestInfoField(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n"
	if got := infoField(info, "redis_version"); got != "7.0.15" {
		t.Fatalf("got %q", got)
	}
}
