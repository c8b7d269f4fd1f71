// Package loopback tells whether a host is this machine, where plain http
// is allowed beside https.
package loopback

import (
	"net/netip"
	"strings"
)

// Is reports whether host (a name or an IP, without port) is
// this machine: localhost or a loopback address.
func Is(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && addr.IsLoopback()
}
