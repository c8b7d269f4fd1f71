-- Redis Cluster only, where the accounting keys live in another slot than
-- the state's: admit a callback's (or a registration's) bytes before
-- put.lua (register.lua) stores it.
-- KEYS: the accounting keys.
-- ARGV: name, size, class (u, r or g), budget, the class's limit, expiry ms, now ms,
-- the app charged ('' : none), its share's bytes and its registrations'.
-- Returns 1 admitted, 0 over the budget.
prune(KEYS, ARGV[7])
if admit(KEYS, ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6],
    ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])) then return 1 end
return 0
