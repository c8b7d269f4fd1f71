-- Registers a state (callback.EventRegister): unless a record of it
-- lives, under any of its names, it writes one in phase REGISTERED and
-- counts its bytes as a registration's.
--
-- KEYS: the record under each of the state's names, then the partition's
-- budget. Returns {REGISTERED}, {STEP, the phase found} or {FULL, part}.
local n = #KEYS - 1
local budget = KEYS[#KEYS]
local now = tonumber(ARGV[1])              -- Unix ms
local untilMs = tonumber(ARGV[2])          -- when the registration ends
local keepUntil = tonumber(ARGV[3])        -- when the record goes: later, with a sign-in link
local reg = ARGV[4]                        -- the sealed registration
local link = ARGV[5]                       -- the name of the sign-in link's ID; '': none
local owner = ARGV[6]                      -- the app registering; '': no apps are configured
local issuer = ARGV[7]                     -- hash of the issuer the registration names; '': none
local bytes = tonumber(ARGV[8])            -- what it counts in the budget
local second = tonumber(ARGV[9])           -- the bucket: when its bytes stop counting
local nowSecond = tonumber(ARGV[10])
local maxLife = tonumber(ARGV[11])         -- how many seconds ahead a bucket may be
local capAll = tonumber(ARGV[12])          -- the partition's part of the budget; 0: no budget
local capRegistrations = tonumber(ARGV[13])
local appCap = tonumber(ARGV[14])          -- the owner's part of its share; 0: none of its own
local appRegistrationsCap = tonumber(ARGV[15])

local _, rec, phase = find(n, now, HELD, OWNER, APP_CAP)
if phase ~= UNKNOWN then return {STEP, phase} end

catchUp(budget, nowSecond, maxLife)
if rec then release(budget, rec[4], charged(rec[5], rec[6])) end -- a lapsed record's, given back early
local app = nil
if appCap > 0 then app = owner end
if capAll > 0 then
  local t = redis.call('HMGET', budget, UNREGISTERED, REGISTRATION, REGISTERED_CALLBACKS, APP .. owner, APP_REGISTRATIONS .. owner)
  local u, g, r = tonumber(t[1] or '0'), tonumber(t[2] or '0'), tonumber(t[3] or '0')
  if app and tonumber(t[4] or '0') + bytes > appCap then return {FULL, PART_APP} end
  if app and tonumber(t[5] or '0') + bytes > appRegistrationsCap then return {FULL, PART_APP_REGISTRATIONS} end
  if g + bytes > capRegistrations then return {FULL, PART_REGISTRATIONS} end
  if u + g + r + bytes > capAll then return {FULL, PART_BUDGET} end
end
count(budget, REGISTRATION, bytes, second, app, 1)

local fields = {PHASE, REGISTERED, UNTIL, untilMs, REG, reg, HELD, REGISTRATION .. ' ' .. bytes .. ' ' .. second}
add(fields, LINK, link)
add(fields, OWNER, owner)
add(fields, ISSUER, issuer)
if app then add(fields, APP_CAP, appCap) end
write(n, fields, keepUntil - now)
return {REGISTERED}
