-- Removes and returns the callback, and its registration,
-- leaves a tombstone carrying its fingerprint and releases its bytes, in
-- one atomic step.
--
-- KEYS: as put.lua. ARGV: ttl seconds, n, the n names.
-- The last ARGV is the caller's app (ANY_APP: no apps configured): a state another app
-- registered answers as an unknown one, and nothing changes.
-- Returns {1, value, i, registration or false, j} taken (under name i, the
-- registration under name j), {2} taken before, {3} conflicted,
-- {4} cancelled, {5} its sign-in link expired (put.lua's LINK_MARKER
-- alone), {0} nothing.
local n = tonumber(ARGV[2])
-- Every key of the state in one read: most takes find nothing (a client
-- polling before the person has signed in), and answer from it alone.
local callbacks, tombstones, registrations, owners = readState(n)
if ownedByAnother(n, ARGV[#ARGV], owners) then return {0} end
local acct = accountingKeys(n)
for i = 1, n do
  local v = callbacks[i]
  if v then
    redis.call('DEL', callbackKey(i))
    -- The tombstone goes under every name, so that a replica left with
    -- only the newest key after a rotation still refuses a replay.
    for j = 1, n do redis.call('SET', tombstoneKey(j), TAKEN .. string.sub(v, 1, FINGERPRINT_LEN), 'EX', ARGV[1]) end
    if acct then release(acct, ARGV[2 + i]) end
    local reg, at = false, 0
    for j = 1, n do
      local r = registrations[j]
      if r then
        redis.call('DEL', registrationKey(j))
        if not reg then reg, at = r, j end
        -- Normally taken over by the callback already; one whose key
        -- expired is in the registrations' set, and prune releases it.
        if acct then release(acct, REGISTRATION .. ':' .. ARGV[2 + j]) end
      end
    end
    return {1, v, i, reg, at}
  end
end
local marked = false
for i = 1, n do
  local tombstone = tombstones[i]
  if tombstone == LINK_MARKER then marked = true
  elseif tombstone == CONFLICT then return {3}
  elseif tombstone == CANCELLED then return {4}
  elseif tombstone then return {2} end
end
if marked then
  for i = 1, n do
    if registrations[i] then return {0} end -- still registered
  end
  return {5}
end
return {0}
