-- Reads where a state stands, changing nothing.
--
-- KEYS: as register.lua. ARGV: n.
-- The last ARGV is the caller's app (ANY_APP: no apps configured): a state another app
-- registered answers as an unknown one, and nothing changes.
-- Returns {progress, milliseconds until what it holds expires}.
local n = tonumber(ARGV[1])
if ownedByAnother(n, ARGV[#ARGV]) then return {'unknown', 0} end
for i = 1, n do
  local ttl = redis.call('PTTL', callbackKey(i))
  if ttl > 0 then return {'received', ttl} end
end
local marker = nil
for i = 1, n do
  local tombstone = redis.call('GET', tombstoneKey(i))
  if tombstone == LINK_MARKER then
    marker = tombstoneKey(i) -- a sign-in link's marker: see the registration
  elseif tombstone then
    local ttl = redis.call('PTTL', tombstoneKey(i))
    if tombstone == CONFLICT then return {'conflict', ttl} end
    if tombstone == CANCELLED then return {'cancelled', ttl} end
    return {'taken', ttl}
  end
end
for i = 1, n do
  local reg = redis.call('GET', registrationKey(i))
  if reg then
    local ttl = redis.call('PTTL', registrationKey(i))
    if string.sub(reg, 1, #LINK_OPENED) == LINK_OPENED then return {'started', ttl} end
    return {'registered', ttl}
  end
end
if marker then return {'expired', redis.call('PTTL', marker)} end
return {'unknown', 0}
