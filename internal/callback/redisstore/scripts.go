package redisstore

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed scripts/accounting.lua
	accountingLua string
	//go:embed scripts/put.lua
	putLua string
	//go:embed scripts/take.lua
	takeLua string
	//go:embed scripts/register.lua
	registerLua string
	//go:embed scripts/cluster_admit.lua
	clusterAdmitLua string
	//go:embed scripts/cluster_release.lua
	clusterReleaseLua string
	//go:embed scripts/start.lua
	startLua string
	//go:embed scripts/status.lua
	statusLua string
	//go:embed scripts/cancel.lua
	cancelLua string

	registerScript       = redis.NewScript(accountingLua + registerLua)
	putScript            = redis.NewScript(accountingLua + putLua)
	takeScript           = redis.NewScript(accountingLua + takeLua)
	clusterAdmitScript   = redis.NewScript(accountingLua + clusterAdmitLua)
	clusterReleaseScript = redis.NewScript(accountingLua + clusterReleaseLua)
	startScript          = redis.NewScript(startLua)
	statusScript         = redis.NewScript(statusLua)
	cancelScript         = redis.NewScript(accountingLua + cancelLua)
	scripts              = []*redis.Script{registerScript, putScript, takeScript, clusterAdmitScript, clusterReleaseScript,
		startScript, statusScript, cancelScript}
)
