package legacy

import (
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// The values the scripts write into keys and compare, named once here. The
// Go code that writes or reads them uses these constants, and prelude hands
// them to every script as Lua locals, so that neither side spells them
// alone.
const (
	// In a state's tombstone key: taken (followed by the callback's
	// fingerprint), conflicted, cancelled; or linkMarker, the state has or
	// had a sign-in link (it outlives the registration by a TTL).
	tombstoneTaken     = "t"
	tombstoneConflict  = "c"
	tombstoneCancelled = "x"
	linkMarker         = "l"
	// A registration with a sign-in link starts with linkNotOpened, which
	// start.lua turns into linkOpened; the sealed link follows. One without
	// is the sealed metadata alone.
	linkNotOpened = "Lr"
	linkOpened    = "Ls"
	// registrationEnvelope starts a registration without a link whose
	// sealed part is a linkRegistration (an issuer); the scripts read it
	// as any registration without a link.
	registrationEnvelope = "E"
	// The classes of bytes in the accounts: a callback of an unregistered
	// state, of a registered one, and a registration (counted under
	// classRegistration + ":" + its state's name).
	classUnregistered = "u"
	classRegistered   = "r"
	classRegistration = "g"
	// anyApp is the caller's app in a script's arguments when no apps are
	// configured (callback.AnyApp): no app's name, which are letters,
	// digits, - and _. An empty app fails closed.
	anyApp = "*"
)

// appArg is app as the scripts read it.
func appArg(app callback.App) string {
	if app.IsAny() {
		return anyApp
	}
	return app.Owner()
}

// prelude is the Lua that starts every script: the constants above, the
// fingerprint's length, and where a state's keys are in KEYS (keysPerName
// per name, in stateKeys' order, then the accounting keys).
var prelude = fmt.Sprintf(`local FINGERPRINT_LEN = %d
local TAKEN, CONFLICT, CANCELLED, LINK_MARKER = %q, %q, %q, %q
local LINK_NOT_OPENED, LINK_OPENED = %q, %q
local LINK = string.sub(LINK_NOT_OPENED, 1, 1)
local UNREGISTERED, REGISTERED, REGISTRATION = %q, %q, %q
local KEYS_PER_NAME, ACCOUNTING_KEYS = %d, %d
local ANY_APP = %q
local CALLBACK_AT, TOMBSTONE_AT, REGISTRATION_AT, OWNER_AT = 3, 2, 1, 0 -- name i's key is KEYS[KEYS_PER_NAME*i - _AT]
local function callbackKey(i) return KEYS[KEYS_PER_NAME*i - CALLBACK_AT] end
local function tombstoneKey(i) return KEYS[KEYS_PER_NAME*i - TOMBSTONE_AT] end
local function registrationKey(i) return KEYS[KEYS_PER_NAME*i - REGISTRATION_AT] end
local function ownerKey(i) return KEYS[KEYS_PER_NAME*i - OWNER_AT] end
-- readState reads every key of the state's n names in one MGET (they share
-- a slot): per name its callback, tombstone, registration and owner
-- (false: none).
local function readState(n)
  local v = redis.call('MGET', unpack(KEYS, 1, KEYS_PER_NAME*n))
  local callbacks, tombstones, registrations, owners = {}, {}, {}, {}
  for i = 1, n do
    local last = KEYS_PER_NAME*i
    callbacks[i], tombstones[i] = v[last - CALLBACK_AT], v[last - TOMBSTONE_AT]
    registrations[i], owners[i] = v[last - REGISTRATION_AT], v[last - OWNER_AT]
  end
  return callbacks, tombstones, registrations, owners
end
-- ownedByAnother: the state was registered by another app than app
-- (ANY_APP is the caller when no app is configured, which sees every
-- state; '' is no app, which sees none). owners: each of the n names'
-- owner as readState gives them, or nil to read them here.
local function ownedByAnother(n, app, owners)
  if app == ANY_APP then return false end
  if app == '' then return true end
  for i = 1, n do
    local owner
    if owners then owner = owners[i] else owner = redis.call('GET', ownerKey(i)) end
    if owner and owner ~= app then return true end
  end
  return false
end
`, fingerprintLen, tombstoneTaken, tombstoneConflict, tombstoneCancelled, linkMarker,
	linkNotOpened, linkOpened, classUnregistered, classRegistered, classRegistration,
	keysPerName, len(accountingKeys("")), anyApp)

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

	registerScript       = redis.NewScript(prelude + accountingLua + registerLua)
	putScript            = redis.NewScript(prelude + accountingLua + putLua)
	takeScript           = redis.NewScript(prelude + accountingLua + takeLua)
	clusterAdmitScript   = redis.NewScript(prelude + accountingLua + clusterAdmitLua)
	clusterReleaseScript = redis.NewScript(prelude + accountingLua + clusterReleaseLua)
	startScript          = redis.NewScript(prelude + startLua)
	statusScript         = redis.NewScript(prelude + statusLua)
	cancelScript         = redis.NewScript(prelude + accountingLua + cancelLua)
)
