-- A sign-in's record: KEYS[1..n] are its key under each of the state's
-- names (the current one first); every write goes to all of them, so that
-- a replica that knows only one name (a key rotation's last step) sees
-- every step.

-- find returns the first name that holds the record (its index), the
-- fields asked for after PHASE, UNTIL and LINK, and the phase now: a
-- phase whose time ran out has lapsed (callback.LapseOf): a sign-in link
-- leaves EXPIRED behind, anything else nothing (its key's own expiry is
-- about to remove it). No record: nil, nil, UNKNOWN.
local function find(n, now, ...)
  for i = 1, n do
    local r = redis.call('HMGET', KEYS[i], PHASE, UNTIL, LINK, ...)
    if r[1] then
      local phase = r[1]
      if (phase == REGISTERED or phase == STARTED or phase == RECEIVED) and now >= tonumber(r[2]) then
        if r[3] then phase = EXPIRED else phase = UNKNOWN end
      end
      return i, r, phase
    end
  end
  return nil, nil, UNKNOWN
end

-- write makes the record, under every name, exactly fields (a flat list
-- of names and values), to expire in ttl ms: a time to live, not an
-- instant, so that Redis's clock need not agree with the replicas'.
local function write(n, fields, ttl)
  for i = 1, n do
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], unpack(fields))
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end

-- add appends a field to fields when its value is set (neither nil nor
-- false nor '').
local function add(fields, name, value)
  if value and value ~= '' then
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
end
