-- Opens a sign-in link: finds the state's registration with a link, marks
-- it opened, and says whether this was the first time. A state that has a
-- callback, a tombstone (taken, conflicted, cancelled) or no registration
-- has no usable link.
--
-- KEYS: as register.lua. ARGV: n.
-- Returns {1, first (1/0), registration, i} (under name i), {0} none.
local n = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('EXISTS', callbackKey(i)) > 0 then return {0} end
  local tombstone = redis.call('GET', tombstoneKey(i))
  if tombstone and tombstone ~= LINK_MARKER then return {0} end -- the link's own marker
end
for i = 1, n do
  local reg = redis.call('GET', registrationKey(i))
  if reg and string.sub(reg, 1, 1) == LINK then
    if string.sub(reg, 1, #LINK_NOT_OPENED) == LINK_NOT_OPENED then
      redis.call('SETRANGE', registrationKey(i), 0, LINK_OPENED) -- keeps the TTL
      return {1, 1, reg, i}
    end
    return {1, 0, reg, i}
  end
end
return {0}
