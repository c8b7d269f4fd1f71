-- Counts the callbacks a partition holds, received and not taken: its
-- budget's pending count, brought up to now.
--
-- KEYS: the partition's budget. Returns the count.
local nowSecond = tonumber(ARGV[1])
local maxLife = tonumber(ARGV[2])          -- how many seconds ahead a bucket may be
catchUp(KEYS[1], nowSecond, maxLife)
return tonumber(redis.call('HGET', KEYS[1], PENDING) or '0')
