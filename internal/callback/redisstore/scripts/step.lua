-- Makes one step of a sign-in, which the store computed from the record
-- it read (callback.Transitions, applied in Go): if the record is still
-- that one, the step's writes, all at once; if not, nothing, and the
-- record as it is now, to compute the step again. Every change of a
-- sign-in is this script: a compare-and-set of its record, with what the
-- step does to the partition's budget, to the sealed values beside it and
-- to its waiters.
--
-- KEYS: the record under each of the state's names (the current key's
-- first; the same value goes under each), the partition's budget, then
-- the sealed values the step moves, deletes or keeps longer.
-- Returns {DONE, 1 for each rename that found its key, else 0},
-- {CHANGED, the record now or false}, or {FULL, the check that failed}.
local n = tonumber(ARGV[1])                -- the state's names
local expected = ARGV[2]                   -- the record the step was computed from; NONE: none
local value = ARGV[3]                      -- the record after the step
local ttl = tonumber(ARGV[4])              -- ms it lives from now; 0: keep its time to live
local a = 5                                -- ARGV[a..]: the sections below, each counted first

local current = false
for i = 1, n do
  current = redis.call('GET', KEYS[i])
  if current then break end
end
if (current or NONE) ~= expected then return {CHANGED, current} end
local budget = KEYS[n + 1]

-- Checks: k, then k fields of the budget, then the most their sum may
-- hold before the step (its cap less what the step adds). Read in one
-- HMGET.
local checks = tonumber(ARGV[a])
if checks > 0 then
  local fields, first, last, limit = {}, {}, {}, {}
  local j = a + 1
  for c = 1, checks do
    local k = tonumber(ARGV[j])
    first[c], last[c] = #fields + 1, #fields + k
    for f = 1, k do fields[#fields + 1] = ARGV[j + f] end
    limit[c] = tonumber(ARGV[j + k + 1])
    j = j + k + 2
  end
  local got = redis.call('HMGET', budget, unpack(fields))
  for c = 1, checks do
    local sum = 0
    for f = first[c], last[c] do sum = sum + (tonumber(got[f]) or 0) end
    if sum > limit[c] then return {FULL, c} end
  end
  a = j
else
  a = a + 1
end

-- The sealed values, first: a rename or delete is the script's first
-- write, which decides whether a Redis past maxmemory lets it run, and
-- frees (or moves) memory before the record grows.
local renames = tonumber(ARGV[a])          -- pairs of KEYS indexes: from, to
local renamed = {DONE}
for r = 1, renames do
  local ok = redis.pcall('RENAME', KEYS[tonumber(ARGV[a + 2 * r - 1])], KEYS[tonumber(ARGV[a + 2 * r])])
  if ok.err then renamed[#renamed + 1] = 0 else renamed[#renamed + 1] = 1 end
end
a = a + 1 + 2 * renames
local deletes = tonumber(ARGV[a])          -- KEYS indexes
for d = 1, deletes do redis.call('DEL', KEYS[tonumber(ARGV[a + d])]) end
a = a + 1 + deletes
local expires = tonumber(ARGV[a])          -- pairs: a KEYS index, ms to live
for e = 1, expires do redis.call('PEXPIRE', KEYS[tonumber(ARGV[a + 2 * e - 1])], ARGV[a + 2 * e]) end
a = a + 1 + 2 * expires

-- The record, under every name.
for i = 1, n do
  if ttl > 0 then redis.call('SET', KEYS[i], value, 'PX', ttl) else redis.call('SET', KEYS[i], value, 'KEEPTTL') end
end

-- Counts: pairs of a budget field and what the step adds to it.
local counts = tonumber(ARGV[a])
for c = 1, counts do redis.call('HINCRBY', budget, ARGV[a + 2 * c - 1], ARGV[a + 2 * c]) end
a = a + 1 + 2 * counts
-- A release: what a record held, given back while the budget still counts
-- it (its second after the one the budget is caught up to): that second,
-- then pairs of fields and amounts.
local releaseSecond, releases = ARGV[a], tonumber(ARGV[a + 1])
if releases > 0 and tonumber(redis.call('HGET', budget, CAUGHT_UP) or '0') < tonumber(releaseSecond) then
  for c = 1, releases do redis.call('HINCRBY', budget, ARGV[a + 2 * c], ARGV[a + 2 * c + 1]) end
end
a = a + 2 + 2 * releases

-- The waiters: the publish command, then the channels.
local publish, channels = ARGV[a], tonumber(ARGV[a + 1])
for c = 1, channels do redis.call(publish, ARGV[a + 1 + c], '') end
return renamed
