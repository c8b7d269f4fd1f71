-- Redis Cluster only, where the accounting keys live in another slot than
-- the state's: admit a callback's bytes before put.lua stores it.
-- KEYS: the four accounting keys.
-- ARGV: name, size, unregistered (1/0), budget, unregistered limit, expiry ms, now ms.
-- Returns 1 admitted, 0 over the budget.
prune(KEYS, ARGV[7])
if admit(KEYS, ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]) then return 1 end
return 0
