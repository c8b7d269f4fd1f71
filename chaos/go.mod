module github.com/oauth-callback-server/oauth-callback-server/chaos

go 1.26.8

replace github.com/oauth-callback-server/oauth-callback-server => ../

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/oauth-callback-server/oauth-callback-server v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.48.0
)
