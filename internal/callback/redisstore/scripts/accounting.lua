-- Shared by put.lua, take.lua and the Cluster scripts: the byte budget.
-- A callback's bytes are counted from when it is stored until it is taken,
-- discarded in a conflict, or expires. Expired ones are found through the
-- pending set (scored by expiry) and released a bounded number at a time.
--
-- acct: the four accounting keys (pending set, sizes hash, bytes, bytes of
-- unregistered states); sizes holds "r<n>" or "u<n>" per name.
local function release(acct, name)
  local v = redis.call('HGET', acct[2], name)
  if v then
    local n = tonumber(string.sub(v, 2))
    redis.call('DECRBY', acct[3], n)
    if string.sub(v, 1, 1) == 'u' then redis.call('DECRBY', acct[4], n) end
    redis.call('HDEL', acct[2], name)
  end
  redis.call('ZREM', acct[1], name)
end

local function prune(acct, now)
  local expired = redis.call('ZRANGEBYSCORE', acct[1], '-inf', now, 'LIMIT', 0, 500)
  for _, name in ipairs(expired) do release(acct, name) end
end

-- admit counts size bytes for name, or returns false when they do not fit
-- the budget (0: none) or, for an unregistered state, its share.
local function admit(acct, name, size, unregistered, budget, unregisteredLimit, expiry)
  if budget > 0 then
    if tonumber(redis.call('GET', acct[3]) or '0') + size > budget then return false end
    if unregistered and tonumber(redis.call('GET', acct[4]) or '0') + size > unregisteredLimit then return false end
  end
  redis.call('ZADD', acct[1], expiry, name)
  if unregistered then
    redis.call('HSET', acct[2], name, 'u' .. size)
    redis.call('INCRBY', acct[4], size)
  else
    redis.call('HSET', acct[2], name, 'r' .. size)
  end
  redis.call('INCRBY', acct[3], size)
  return true
end
