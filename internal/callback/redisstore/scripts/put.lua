-- Stores a callback (callback.EventCallback, or EventSameCallback when
-- the state holds or handed out this one): the guards first, then the
-- table's cell for the state's phase (phase.go). A first callback takes
-- its registration over (metadata, link, owner) and its bytes; a
-- different one while the first waits makes the state CONFLICT, and
-- neither is handed out. Wakes the state's waiters when anything changed.
--
-- KEYS: the record under each of the state's names, then the partition's
-- budget. Returns {RECEIVED, registered (1/0), the registration if it has a
-- sign-in link or false}, {STEP, phase, event}, {GUARD, which} or
-- {FULL, part}.
local n = #KEYS - 1
local budget = KEYS[#KEYS]
local now = tonumber(ARGV[1])              -- Unix ms
local ttl = tonumber(ARGV[2])              -- ms: how long the callback, and each phase after it, lives
local cb = ARGV[3]                         -- the sealed callback
local fp = ARGV[4]                         -- its fingerprint
local issuer = ARGV[5]                     -- hash of its iss; '': none
local bound = ARGV[6] == '1'               -- from the browser that opened the state's sign-in link
local require = ARGV[7] == '1'             -- registration required
local bytes = tonumber(ARGV[8])            -- what it counts in the budget, beside its registration
local second = tonumber(ARGV[9])           -- the bucket: when its bytes stop counting
local nowSecond = tonumber(ARGV[10])
local maxLife = tonumber(ARGV[11])
local capAll = tonumber(ARGV[12])          -- the partition's part of the budget; 0: no budget
local capUnregistered = tonumber(ARGV[13])
local publish = ARGV[14]                   -- PUBLISH, or SPUBLISH on Cluster
-- ARGV[15..]: the state's wake-up channel under each of its names

local at, rec, phase = find(n, now, ISSUER, FP, HELD, OWNER, APP_CAP, REG)
local link, held, owner, appCap = rec and rec[3], rec and rec[6], rec and rec[7], rec and rec[8]
local function wake()
  for i = 15, #ARGV do redis.call(publish, ARGV[i], '') end
end

-- The guards, in phase.go's order.
if (phase == REGISTERED or phase == STARTED or phase == RECEIVED) and rec[4] and issuer ~= '' and rec[4] ~= issuer then
  return {GUARD, GUARD_ISSUER}
end
if phase == EXPIRED and require then return {GUARD, GUARD_NOT_REGISTERED} end
if phase ~= UNKNOWN and link and not bound and phase ~= TAKEN and phase ~= CANCELLED then return {GUARD, GUARD_UNBOUND} end
if phase == UNKNOWN and require then return {GUARD, GUARD_NOT_REGISTERED} end

local event = CALLBACK
if (phase == RECEIVED or phase == TAKEN) and rec[5] == fp then event = SAME_CALLBACK end
if phase == RECEIVED and event == CALLBACK then
  -- Two different callbacks: the state is conflicted for good.
  local fields = {PHASE, CONFLICT, UNTIL, now + ttl}
  add(fields, OWNER, owner)
  add(fields, LINK, link)
  write(n, fields, ttl) -- first: its DEL lets a full Redis take it (take.lua)
  release(budget, held, charged(owner, appCap))
  wake()
  return {STEP, phase, event}
end
if phase ~= UNKNOWN and phase ~= REGISTERED and phase ~= STARTED then return {STEP, phase, event} end

-- A first callback. Registered, it takes the registration's bytes over:
-- they are freed as its own are counted.
local registered = phase ~= UNKNOWN
local app = nil
if registered then app = charged(owner, appCap) end
local total = bytes
if registered then total = bytes + #rec[9] end -- the registration stays, for its metadata
catchUp(budget, nowSecond, maxLife)
if capAll > 0 then
  local t = redis.call('HMGET', budget, UNREGISTERED, REGISTRATION, REGISTERED_CALLBACKS, APP .. (app or ''))
  local u, g, r, a = tonumber(t[1] or '0'), tonumber(t[2] or '0'), tonumber(t[3] or '0'), tonumber(t[4] or '0')
  local freed = 0
  if rec then
    local _, heldBytes = counted(budget, held)
    freed = heldBytes or 0
  end
  if app and a - freed + total > tonumber(appCap) then return {FULL, PART_APP} end
  if not registered and u + total > capUnregistered then return {FULL, PART_UNREGISTERED} end
  if u + g + r - freed + total > capAll then return {FULL, PART_BUDGET} end
end
if rec then release(budget, held, charged(owner, appCap)) end -- the registration's, or a lapsed record's
local class = UNREGISTERED
if registered then class = REGISTERED_CALLBACKS end
count(budget, class, total, second, app, 1)

local fields = {PHASE, RECEIVED, UNTIL, now + ttl, FP, fp, CB, cb, HELD, class .. ' ' .. total .. ' ' .. second}
local keepUntil = now + ttl
if registered then
  add(fields, OWNER, owner)
  add(fields, LINK, link)
  add(fields, ISSUER, rec[4])
  add(fields, REG, rec[9])
  add(fields, APP_CAP, appCap)
  if link then keepUntil = now + 2 * ttl end -- its link's phase outlives it
end
write(n, fields, keepUntil - now)
wake()
if registered and link then return {RECEIVED, 1, rec[9]} end
if registered then return {RECEIVED, 1, false} end
return {RECEIVED, 0, false}
