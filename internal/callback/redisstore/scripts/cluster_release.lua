-- Redis Cluster only: release the bytes of a callback taken, discarded or
-- never stored. KEYS: the four accounting keys. ARGV: the name.
release(KEYS, ARGV[1])
return 1
