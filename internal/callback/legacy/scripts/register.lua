-- Registers a state unless it is registered, or has a callback stored or
-- taken, under any of its names, and counts the registration's bytes
-- against its share of the budget.
--
-- KEYS: as put.lua (the accounting keys too, except on Cluster, where
-- the caller admits the bytes first). ARGV: value, ttl seconds, link marker
-- seconds (0: no sign-in link), n, the first name, size, budget bytes,
-- registrations' limit bytes, expiry ms, now ms, the owner ('' : none),
-- the owner's seconds, the app the bytes are charged to ('' : none), its
-- share's bytes and its registrations'.
-- Returns 1 registered, 0 exists, 2 over the budget.
--
-- The registration is written under the first name; with a sign-in link,
-- the marker LINK_MARKER goes into the tombstone key of every name, and outlives it
-- by a TTL (put.lua: an expired link still refuses unbound callbacks).
-- The owner, the app that registered, goes under every name too, for as
-- long as anything about the state may be kept (take.lua, status.lua and
-- cancel.lua answer another app as for an unknown state).
local n = tonumber(ARGV[4])
for i = 1, n do
  if redis.call('EXISTS', callbackKey(i), tombstoneKey(i), registrationKey(i)) > 0 then return 0 end
end
local acct = accountingKeys(n)
if acct then
  prune(acct, ARGV[10])
  if not admit(acct, REGISTRATION .. ':' .. ARGV[5], tonumber(ARGV[6]), REGISTRATION, tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9],
      ARGV[13], tonumber(ARGV[14]), tonumber(ARGV[15])) then
    return 2
  end
end
redis.call('SET', registrationKey(1), ARGV[1], 'EX', ARGV[2])
if tonumber(ARGV[3]) > 0 then
  for i = 1, n do redis.call('SET', tombstoneKey(i), LINK_MARKER, 'EX', ARGV[3]) end -- under every name
end
for i = 1, n do
  -- An owner left by an earlier sign-in of the state, expired since, goes.
  if ARGV[11] == '' then redis.call('DEL', ownerKey(i)) else redis.call('SET', ownerKey(i), ARGV[11], 'EX', ARGV[12]) end
end
return 1
