-- Opens a sign-in link (callback.EventOpen): a state REGISTERED with this
-- link becomes STARTED, and says it was the first time; STARTED says it
-- was not. A state with no such link, or past that, has none to open.
--
-- KEYS: the record under each of the state's names. Returns {STARTED,
-- first (1/0), the registration} or {STEP, phase}.
local now = tonumber(ARGV[1])              -- Unix ms
local link = ARGV[2]                       -- the name of the link's ID

local _, rec, phase = find(#KEYS, now, REG)
if not rec or rec[3] ~= link then return {STEP, UNKNOWN} end
if phase == STARTED then return {STARTED, 0, rec[4]} end
if phase ~= REGISTERED then return {STEP, phase} end
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], PHASE, STARTED) end
end
return {STARTED, 1, rec[4]}
