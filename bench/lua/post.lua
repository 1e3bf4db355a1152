-- POST a body made from a template, "@@" replaced by a unique name per request (order numbers).
-- wrk args: <template file> <run prefix> <1 to send an Idempotency-Key, else 0>
local threads = {}
local counter = 0
local template, prefix, with_key

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  template = f:read("*a")
  f:close()
  prefix = args[2] .. "t" .. tid .. "n"
  with_key = args[3] == "1"
end

function request()
  counter = counter + 1
  local name = prefix .. counter
  local body = (template:gsub("@@", name))
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  if with_key then headers["Idempotency-Key"] = "bench-" .. name end
  return wrk.format("POST", nil, headers, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
