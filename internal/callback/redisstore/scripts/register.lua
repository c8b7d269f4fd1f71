-- Registers a state unless it is registered, or has a callback stored or
-- taken, under any of its names, and counts the registration's bytes
-- against its share of the budget.
--
-- KEYS: as put.lua (the six accounting keys too, except on Cluster, where
-- the caller admits the bytes first). ARGV: value, ttl seconds, link marker
-- seconds (0: no sign-in link), n, the first name, size, budget bytes,
-- registrations' limit bytes, expiry ms, now ms.
-- Returns 1 registered, 0 exists, 2 over the budget.
--
-- The registration is written under the first name; with a sign-in link,
-- the marker LINK_MARKER goes into the tombstone key of every name, and outlives it
-- by a TTL (put.lua: an expired link still refuses unbound callbacks).
local n = tonumber(ARGV[4])
for i = 1, 3 * n do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
local acct = accountingKeys(n)
if acct then
  prune(acct, ARGV[10])
  if not admit(acct, REGISTRATION .. ':' .. ARGV[5], tonumber(ARGV[6]), REGISTRATION, tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]) then
    return 2
  end
end
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
if tonumber(ARGV[3]) > 0 then
  for i = 2, 3 * n, 3 do redis.call('SET', KEYS[i], LINK_MARKER, 'EX', ARGV[3]) end -- under every name
end
return 1
