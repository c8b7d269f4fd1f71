-- Cancels a sign-in: discards the state's pending callback (releasing its
-- bytes) and registration, leaves a tombstone CANCELLED and wakes the waiters,
-- whose take now answers "cancelled". Cancelling twice changes nothing.
--
-- KEYS: as put.lua. ARGV: ttl seconds, channel, n, the n names.
-- The last ARGV is the caller's app (ANY_APP: no apps configured): a state another app
-- registered answers as an unknown one, and nothing changes.
-- Returns {1, the released name or false} cancelled (or already),
--         {2} taken, {3} conflicted, {0} nothing known.
local n = tonumber(ARGV[3])
if ownedByAnother(n, ARGV[#ARGV]) then return {0} end
local acct = accountingKeys(n)
for i = 1, n do
  local tombstone = redis.call('GET', tombstoneKey(i))
  if tombstone == LINK_MARKER then tombstone = nil end -- a sign-in link's marker
  if tombstone == CANCELLED then return {1, false} end
  if tombstone == CONFLICT then return {3} end
  if tombstone then return {2} end
end
local found, released = false, false
for i = 1, n do
  if redis.call('DEL', callbackKey(i)) == 1 then
    found, released = true, ARGV[3 + i]
    if acct then release(acct, ARGV[3 + i]) end
  end
  if redis.call('DEL', registrationKey(i)) == 1 then found = true end
  if acct then release(acct, REGISTRATION .. ':' .. ARGV[3 + i]) end
end
if not found then return {0} end
for i = 1, n do redis.call('SET', tombstoneKey(i), CANCELLED, 'EX', ARGV[1]) end -- under every name, as take.lua's
for i = 1, n do redis.call('PUBLISH', ARGV[2], ARGV[3 + i]) end
return {1, released}
