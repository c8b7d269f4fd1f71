-- The byte budget of one partition, for the scripts that count bytes.
-- budget is its running totals (a hash: SECOND, the second they are
-- brought up to, and per class, app and the pending count their sum);
-- budget .. ':' .. m, a bucket, holds the part of them that stops
-- counting in second m. A write counts its bytes in both, and its record
-- says where (HELD: "<class> <bytes> <second>"): taking, cancelling or a
-- conflict gives them back from both; what nobody gives back, the totals
-- lose when its second has passed (catchUp). O(1) a write: no set to
-- prune, no key outside the partition.

-- catchUp brings the totals up to nowSecond: each bucket whose second has
-- passed is taken off them, and goes. A bucket is at most maxLife seconds
-- ahead of its write: after longer than that with no write, every bucket
-- left has passed, and the totals start again from nothing.
local function catchUp(budget, nowSecond, maxLife)
  local last = tonumber(redis.call('HGET', budget, SECOND))
  if last and last >= nowSecond then return end
  if last and nowSecond - last <= maxLife then
    for m = last + 1, nowSecond do
      local b = budget .. ':' .. m
      local due = redis.call('HGETALL', b)
      for i = 1, #due, 2 do
        local v = tonumber(due[i + 1])
        if v ~= 0 then redis.call('HINCRBY', budget, due[i], -v) end -- never -0, which HINCRBY refuses
      end
      if #due > 0 then redis.call('DEL', b) end
    end
  elseif last then
    for m = last + 1, last + maxLife do redis.call('DEL', budget .. ':' .. m) end
    redis.call('DEL', budget)
  end
  redis.call('HSET', budget, SECOND, nowSecond)
end

-- count adds sign times bytes of class to the totals and to second's
-- bucket; a callback counts in the pending count too, and the bytes of
-- app (nil: none) in its share.
local function count(budget, class, bytes, second, app, sign)
  local b = budget .. ':' .. second
  local n = sign * bytes
  redis.call('HINCRBY', budget, class, n)
  redis.call('HINCRBY', b, class, n)
  if class ~= REGISTRATION then
    redis.call('HINCRBY', budget, PENDING, sign)
    redis.call('HINCRBY', b, PENDING, sign)
  end
  if app then
    redis.call('HINCRBY', budget, APP .. app, n)
    redis.call('HINCRBY', b, APP .. app, n)
    if class == REGISTRATION then
      redis.call('HINCRBY', budget, APP_REGISTRATIONS .. app, n)
      redis.call('HINCRBY', b, APP_REGISTRATIONS .. app, n)
    end
  end
end

-- counted reads a record's HELD (false: none) and says whether the totals
-- still count it: not once its second has passed.
local function counted(budget, held)
  if not held then return nil end
  local class, bytes, second = string.match(held, '^(%a+) (%d+) (%d+)$')
  if tonumber(second) <= tonumber(redis.call('HGET', budget, SECOND) or '0') then return nil end
  return class, tonumber(bytes), second
end

-- charged is the app a record's bytes are charged to: its owner, when it
-- has a share of its own (APP_CAP); nil for none.
local function charged(owner, appCap)
  if owner and appCap then return owner end
  return nil
end

-- release gives back what a record's HELD counts, if the totals still
-- count it; app: the app charged, nil for none.
local function release(budget, held, app)
  local class, bytes, second = counted(budget, held)
  if class then count(budget, class, bytes, second, app, -1) end
end
