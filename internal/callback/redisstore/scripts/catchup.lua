-- Brings a partition's budget up to nowSecond: the parts of its totals
-- whose second has passed are taken off them, and go. A part is at most
-- maxLife seconds ahead of its write: after longer than that with nothing
-- caught up, every part has passed, and the budget starts afresh. The
-- store runs it before a step that counts bytes, at most once a second a
-- partition, and to count what is pending.
--
-- KEYS: the partition's budget. Returns its pending count.
local budget = KEYS[1]
local nowSecond = tonumber(ARGV[1])
local maxLife = tonumber(ARGV[2])          -- how many seconds ahead a part may be
-- ARGV[3..]: the totals: the classes, the pending count, each app's

local last = tonumber(redis.call('HGET', budget, CAUGHT_UP) or '0')
-- Never caught up: parts may have been written since maxLife ago.
if last == 0 then last = nowSecond - maxLife end
if last < nowSecond and nowSecond - last <= maxLife then
  local parts, of = {}, {}
  for s = last + 1, nowSecond do
    for i = 3, #ARGV do
      parts[#parts + 1] = ARGV[i] .. PART .. s
      of[#parts] = ARGV[i]
    end
  end
  local due = redis.call('HMGET', budget, unpack(parts))
  local sums = {}
  for i, v in ipairs(due) do
    if v then sums[of[i]] = (sums[of[i]] or 0) + tonumber(v) end
  end
  for f, v in pairs(sums) do
    if v ~= 0 then redis.call('HINCRBY', budget, f, -v) end
  end
  redis.call('HDEL', budget, unpack(parts))
elseif last < nowSecond then
  redis.call('DEL', budget)
end
if last < nowSecond then redis.call('HSET', budget, CAUGHT_UP, nowSecond) end
return tonumber(redis.call('HGET', budget, PENDING) or '0')
