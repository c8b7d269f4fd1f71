-- Stores a callback unless the state has one, in one atomic step: the
-- first writer wins with SET NX EX, a tombstone refuses replays, the same
-- callback again is a duplicate, and a different one while the first is
-- pending makes the state conflicted (neither is ever handed out). It
-- counts the bytes against the budget and wakes the waiters.
--
-- KEYS: for each of the state's n names (current secret first): callback,
--       tombstone, registration, owner (the prelude's callbackKey(i) and
--       the others); then the accounting keys, except on Cluster (another
--       slot: the caller admits and releases separately).
-- ARGV: value (fingerprint .. sealed), ttl seconds, expiry ms, now ms,
--       channel, require registration (1/0), fingerprint, budget bytes,
--       unregistered limit bytes, size, n, bound (1/0), the n names, then
--       m and m pairs of an app with a share of its own and the share's
--       bytes (a registered state's callback is charged to its owner).
-- Returns {1, registered, registration if it has a sign-in link, its name
--         index} stored, {0} duplicate, {2} not registered,
--         {3} conflicted (a second value: the name of the discarded one),
--         {4} different callback after a take, {5} over the budget,
--         {6} not bound to the browser that opened the sign-in link,
--         {7} cancelled, {8} its sign-in link expired.
--
-- A registration with a sign-in link starts with LINK_NOT_OPENED, or
-- LINK_OPENED once opened, then the sealed link; one without is the sealed
-- metadata. The constants are the prelude's (scripts.go).
local n = tonumber(ARGV[11])
local fingerprint = ARGV[7]
local bound = ARGV[12]
local acct = accountingKeys(n)
local function publishAll()
  for i = 1, n do redis.call('PUBLISH', ARGV[5], ARGV[12 + i]) end
end

-- Each name's keys, read once (false: none).
local callbacks, tombstones, registrations, owners = readState(n)

-- A tombstone LINK_MARKER marks a state registered with a sign-in link. Left
-- alone (no callback, registration or other tombstone), the link expired.
local marked, live = false, false
for i = 1, n do
  local tombstone = tombstones[i]
  if tombstone == LINK_MARKER then marked = true elseif tombstone then live = true end
end
if marked and not live then -- only then: most states carry no marker
  for i = 1, n do
    if callbacks[i] or registrations[i] then live = true end
  end
end
local expiredLink = marked and not live
if expiredLink and ARGV[6] == '1' then return {2} end

-- Checked first: a browser that did not open the link changes nothing.
if bound ~= '1' then
  if expiredLink then return {6} end
  for i = 1, n do
    local reg = registrations[i]
    if reg and string.sub(reg, 1, 1) == LINK then return {6} end
  end
end
if expiredLink then return {8} end

for i = 1, n do
  local tombstone = tombstones[i]
  if tombstone and tombstone ~= LINK_MARKER then
    if tombstone == CONFLICT then return {3} end
    if tombstone == CANCELLED then return {7} end
    if string.sub(tombstone, #TAKEN + 1) == fingerprint then return {0} end
    return {4}
  end
end
for i = 1, n do
  local v = callbacks[i]
  if v then
    if string.sub(v, 1, FINGERPRINT_LEN) == fingerprint then return {0} end
    redis.call('DEL', callbackKey(i))
    for j = 1, n do redis.call('SET', tombstoneKey(j), CONFLICT, 'EX', ARGV[2]) end -- under every name, as take.lua's
    if acct then release(acct, ARGV[12 + i]) end
    publishAll()
    return {3, ARGV[12 + i]}
  end
end
local registered = 0
for i = 1, n do
  if registrations[i] then registered = i; break end
end
if ARGV[6] == '1' and registered == 0 then return {2} end
if acct then
  prune(acct, ARGV[4])
  local class, limit = REGISTERED, 0
  if registered == 0 then class, limit = UNREGISTERED, tonumber(ARGV[9]) end
  -- The callback takes its registration's bytes over: released first,
  -- and counted again if the callback does not fit (nothing changes then).
  local regName, held = nil, nil
  if registered > 0 then
    regName = REGISTRATION .. ':' .. ARGV[12 + registered]
    held = redis.call('HGET', acct[2], regName)
    if held then release(acct, regName) end
  end
  local app, appLimit = nil, 0
  if registered > 0 then
    local owner = owners[registered]
    local m = tonumber(ARGV[13 + n])
    for j = 1, m do
      if ARGV[12 + n + 2*j] == owner then app, appLimit = owner, tonumber(ARGV[13 + n + 2*j]) end
    end
  end
  if not admit(acct, ARGV[13], tonumber(ARGV[10]), class, tonumber(ARGV[8]), limit, ARGV[3], app, appLimit, 0) then
    if held then
      local expiry = tonumber(ARGV[4]) + math.max(redis.call('PTTL', registrationKey(registered)), 0)
      local _, heldSize, heldApp = entryOf(held)
      admit(acct, regName, heldSize, REGISTRATION, 0, 0, expiry, heldApp)
    end
    return {5}
  end
end
redis.call('SET', callbackKey(1), ARGV[1], 'EX', ARGV[2])
-- A state nobody registered has no owner: one left by an expired
-- registration goes.
if registered == 0 then
  for i = 1, n do
    if owners[i] then redis.call('DEL', ownerKey(i)) end
  end
end
-- The registration lives as long as the callback, for its metadata.
if registered > 0 then redis.call('EXPIRE', registrationKey(registered), ARGV[2]) end
publishAll()
if registered > 0 then
  local reg = registrations[registered]
  if string.sub(reg, 1, 1) == LINK then
    -- Should the callback expire untaken, the marker outlives it by a TTL.
    for j = 1, n do redis.call('SET', tombstoneKey(j), LINK_MARKER, 'EX', 2 * tonumber(ARGV[2])) end
    return {1, 1, reg, registered}
  end
  return {1, 1}
end
return {1, 0}
