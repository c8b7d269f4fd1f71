-- Redis Cluster only: release the bytes of a callback (or registration)
-- taken, discarded or never stored. KEYS: the accounting keys. ARGV:
-- the name.
release(KEYS, ARGV[1])
return 1
