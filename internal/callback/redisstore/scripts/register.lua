-- Registers a state unless it is registered, or has a callback stored or
-- taken, under any of its names.
--
-- KEYS: as put.lua, without the accounting keys. ARGV: metadata, ttl
-- seconds, link marker seconds (0: no sign-in link). The registration is
-- written under the first name; with a sign-in link, the marker 'l' goes
-- into the tombstone key of every name, and outlives it by a TTL (put.lua:
-- an expired link still refuses unbound callbacks).
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
if tonumber(ARGV[3]) > 0 then
  for i = 2, #KEYS, 3 do redis.call('SET', KEYS[i], 'l', 'EX', ARGV[3]) end -- under every name
end
return 1
