module github.com/oauth-callback-server/oauth-callback-server/e2e

go 1.26.8

replace github.com/oauth-callback-server/oauth-callback-server => ../

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/chromedp/chromedp v0.23.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/oauth-callback-server/oauth-callback-server v0.0.0 // indirect
	github.com/zitadel/oidc/v3 v3.52.0 // indirect
	golang.org/x/oauth2 v0.38.0 // indirect
)
