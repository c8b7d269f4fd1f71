-- Cancels a sign-in (callback.EventCancel), for app: its registration and
-- any callback waiting go, and phase CANCELLED refuses what comes later.
-- Wakes the state's waiters, whose take now says so.
--
-- KEYS: the record under each of the state's names, then the partition's
-- budget. Returns {CANCELLED} (now or before) or {STEP, phase}.
local n = #KEYS - 1
local budget = KEYS[#KEYS]
local now = tonumber(ARGV[1])              -- Unix ms
local ttl = tonumber(ARGV[2])              -- ms: how long the tombstone lives
local app = ARGV[3]                        -- the caller's app; ANY_APP: no apps are configured
local publish = ARGV[4]                    -- PUBLISH, or SPUBLISH on Cluster
-- ARGV[5..]: the state's wake-up channel under each of its names

local _, rec, phase = find(n, now, OWNER, HELD, APP_CAP)
if rec and app ~= ANY_APP and (app == '' or (rec[4] and rec[4] ~= app)) then return {STEP, UNKNOWN} end
if phase == CANCELLED then return {CANCELLED} end
if phase ~= REGISTERED and phase ~= STARTED and phase ~= RECEIVED then return {STEP, phase} end

local fields = {PHASE, CANCELLED, UNTIL, now + ttl}
add(fields, OWNER, rec[4])
add(fields, LINK, rec[3])
write(n, fields, ttl) -- first: its DEL lets a full Redis take it (take.lua)
release(budget, rec[5], charged(rec[4], rec[6]))
for i = 5, #ARGV do redis.call(publish, ARGV[i], '') end
return {CANCELLED}
