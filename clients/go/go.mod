module github.com/oauth-callback-server/oauth-callback-server/clients/go

go 1.22
