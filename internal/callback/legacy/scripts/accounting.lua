-- Shared by every script that writes or removes: the byte budget.
-- A callback's bytes are counted from when it is stored until it is taken,
-- discarded in a conflict, or expires; a registration's from when it is
-- made until its callback arrives (which takes its bytes over), it is
-- cancelled, or it expires. Expired ones are found through the two sorted
-- sets (scored by expiry) and released a bounded number at a time.
--
-- acct: the seven accounting keys (pending set, sizes hash, bytes, bytes of
-- unregistered states' callbacks, bytes of registrations, registration
-- set, bytes of each app); sizes holds, per name, its class and size:
-- UNREGISTERED .. n for a callback of an unregistered state, REGISTERED .. n
-- of a registered one, REGISTRATION .. n for a registration (named
-- REGISTRATION .. ':' .. its state's name), followed by '@' .. app when the
-- bytes are charged to an app with a share of its own. The apps hash holds,
-- per such app, its bytes under its name and its registrations' under
-- app .. ':' .. REGISTRATION. The classes are the prelude's (scripts.go).
local function accountingKeys(n)
  local first = KEYS_PER_NAME * n
  if #KEYS ~= first + ACCOUNTING_KEYS then
    return nil -- Cluster: the caller keeps the accounts in their own slot
  end
  local acct = {}
  for i = 1, ACCOUNTING_KEYS do acct[i] = KEYS[first + i] end
  return acct
end

-- entryOf reads an entry of sizes: its class, size and app (nil: none).
local function entryOf(v)
  local at = string.find(v, '@', 2, true)
  if at then return string.sub(v, 1, 1), tonumber(string.sub(v, 2, at - 1)), string.sub(v, at + 1) end
  return string.sub(v, 1, 1), tonumber(string.sub(v, 2)), nil
end

local function charge(acct, app, class, n)
  redis.call('HINCRBY', acct[7], app, n)
  if class == REGISTRATION then redis.call('HINCRBY', acct[7], app .. ':' .. REGISTRATION, n) end
end

-- release gives back name's bytes. An entry of sizes is in one sorted set,
-- its class's (admit): a name without one is in neither, and nothing else
-- is called (most takes release a registration their state never had).
local function release(acct, name)
  local v = redis.call('HGET', acct[2], name)
  if not v then return end
  local class, n, app = entryOf(v)
  if app then charge(acct, app, class, -n) end
  redis.call('DECRBY', acct[3], n)
  if class == UNREGISTERED then redis.call('DECRBY', acct[4], n) end
  if class == REGISTRATION then
    redis.call('DECRBY', acct[5], n)
    redis.call('ZREM', acct[6], name)
  else
    redis.call('ZREM', acct[1], name)
  end
  redis.call('HDEL', acct[2], name)
end

-- prune releases what expired, at most 500 names a set; it removes them
-- from the set itself too, so a name the set holds without an entry
-- (none should) cannot come back at every prune.
local function prune(acct, now)
  for _, set in ipairs({acct[1], acct[6]}) do
    local expired = redis.call('ZRANGEBYSCORE', set, '-inf', now, 'LIMIT', 0, 500)
    for _, name in ipairs(expired) do
      release(acct, name)
      redis.call('ZREM', set, name)
    end
  end
end

-- admit counts size bytes of class (UNREGISTERED, REGISTERED or REGISTRATION) for name, or returns
-- false when they do not fit the budget (0: none) or the class's own limit
-- (for UNREGISTERED and REGISTRATION; 0 for REGISTERED, which has none but the budget),
-- or, charged to app (nil or '': none), the app's share (appLimit) or its
-- registrations' (appRegistrationLimit).
local function admit(acct, name, size, class, budget, classLimit, expiry, app, appLimit, appRegistrationLimit)
  if app == '' then app = nil end
  local classKey = nil
  if class == UNREGISTERED then classKey = acct[4] elseif class == REGISTRATION then classKey = acct[5] end
  if budget > 0 then
    local total, classTotal
    if classKey then
      local v = redis.call('MGET', acct[3], classKey)
      total, classTotal = v[1], v[2]
    else
      total = redis.call('GET', acct[3])
    end
    if tonumber(total or '0') + size > budget then return false end
    if classKey and tonumber(classTotal or '0') + size > classLimit then return false end
    if app then
      if tonumber(redis.call('HGET', acct[7], app) or '0') + size > appLimit then return false end
      if class == REGISTRATION and tonumber(redis.call('HGET', acct[7], app .. ':' .. REGISTRATION) or '0') + size > appRegistrationLimit then return false end
    end
  end
  if class == REGISTRATION then redis.call('ZADD', acct[6], expiry, name) else redis.call('ZADD', acct[1], expiry, name) end
  local entry = class .. size
  if app then
    entry = entry .. '@' .. app
    charge(acct, app, class, size)
  end
  redis.call('HSET', acct[2], name, entry)
  if classKey then redis.call('INCRBY', classKey, size) end
  redis.call('INCRBY', acct[3], size)
  return true
end
