-- One wrk "request" is a whole callback→take cycle: the provider's redirect
-- and the MCP server's take of the same state, pipelined on one connection,
-- so the server answers them in order. Every answer must be 200.
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
  local state = run .. "-" .. tostring(tid) .. "-" .. tostring(n)
  return wrk.format("GET", "/callback?code=bench-code-0123456789abcdef&state=" .. state)
      .. wrk.format("GET", "/api/callback/" .. state)
end
