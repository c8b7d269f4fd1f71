-- Takes a state's callback (callback.EventTake), for app: hands it out
-- and leaves phase TAKEN, with its fingerprint, so that a second take and
-- a replay are told apart from a different callback. The store calls it
-- only when a plain read saw the callback: every other take answers from
-- that read alone.
--
-- KEYS: the record under each of the state's names, then the partition's
-- budget. Returns {TAKEN, the sealed callback, the registration or false}
-- or {STEP, phase}.
local n = #KEYS - 1
local budget = KEYS[#KEYS]
local now = tonumber(ARGV[1])              -- Unix ms
local ttl = tonumber(ARGV[2])              -- ms: how long the tombstone lives
local app = ARGV[3]                        -- the caller's app; ANY_APP: no apps are configured

local _, rec, phase = find(n, now, OWNER, FP, CB, REG, HELD, APP_CAP)
if rec and app ~= ANY_APP and (app == '' or (rec[4] and rec[4] ~= app)) then return {STEP, UNKNOWN} end
if phase ~= RECEIVED then return {STEP, phase} end

local fields = {PHASE, TAKEN, UNTIL, now + ttl, FP, rec[5]}
add(fields, OWNER, rec[4])
add(fields, LINK, rec[3])
-- Written first: its DEL frees the callback's memory, and a script's
-- first write decides whether Redis past maxmemory lets it run, so a
-- full Redis still lets the sign-ins it holds complete.
write(n, fields, ttl)
release(budget, rec[8], charged(rec[4], rec[9]))
return {TAKEN, rec[6], rec[7] or false}
