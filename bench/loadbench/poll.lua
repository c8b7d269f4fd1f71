-- The poll storm: every request polls a state that was never stored, so
-- the service answers 404 (the bare handler 200). States are unique, like
-- the field client's, so nothing is cached.
local thread_id = 0

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  run = args[1] or "run"
  n = 0
end

function request()
  n = n + 1
  return wrk.format("GET", "/api/callback/" .. run .. "-" .. tostring(tid) .. "-" .. tostring(n) .. "-0123456789abcdef0123")
end
