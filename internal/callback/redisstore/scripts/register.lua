-- Registers a state unless it is registered, or has a callback stored or
-- taken, under any of its names.
--
-- KEYS: as put.lua, without the accounting keys. ARGV: metadata, ttl
-- seconds. The registration is written under the first name.
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
return 1
