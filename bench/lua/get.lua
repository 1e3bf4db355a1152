-- GET a cursor-paginated list, following "next" for up to <pages> pages, then from the top again.
-- wrk args: <pages>
local next_path = nil
local depth = 0
local pages = 20

function init(args)
  pages = tonumber(args[1] or "20")
end

function request()
  return wrk.format("GET", next_path or wrk.path)
end

function response(status, headers, body)
  depth = depth + 1
  local url = status == 200 and body:match('"next":"(.-)"') or nil
  if url and depth < pages then
    next_path = url:gsub("^https?://[^/]+", ""):gsub("\\u0026", "&")
  else
    next_path = nil
    depth = 0
  end
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
