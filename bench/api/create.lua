-- wrk script: POST /v1/notifications with a distinct instance UUID per request (no
-- duplicates), counting answers by status in every thread.
local counter = 0
local threads = {}
local statuses = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  host = args[2]
  run = tonumber(args[3] or "0")
  statuses = {}
end

function request()
  counter = counter + 1
  -- Unique across threads (tid), runs (run) and requests (counter): no duplicates.
  local uuid = string.format("%08x-%04x-4000-8000-%012x", tid, run, counter)
  local body = string.format(
    '{"notification":{"type":"VM","hostname":"%s","generated_time":"2026-11-22T10:00:00",' ..
    '"payload":{"event":"LIFECYCLE","instance_uuid":"%s","vir_domain_event":"STOPPED_FAILED"}}}',
    host, uuid)
  return wrk.format("POST", "/v1/notifications",
                    {["Content-Type"] = "application/json", ["X-Auth-Token"] = token}, body)
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
  -- wrk reads thread globals as strings in done(); keep a flat summary.
  local s = ""
  for code, n in pairs(statuses) do s = s .. code .. "=" .. n .. " " end
  summary = s
end

function done(summary_, latency, requests)
  local totals = {}
  for _, t in ipairs(threads) do
    local s = t:get("summary") or ""
    for code, n in string.gmatch(s, "(%d+)=(%d+)") do
      totals[code] = (totals[code] or 0) + tonumber(n)
    end
  end
  local parts = {}
  for code, n in pairs(totals) do table.insert(parts, string.format('"%s":%d', code, n)) end
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"errors":%d,"statuses":{%s}}\n',
    summary_.requests, summary_.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary_.errors.connect + summary_.errors.read + summary_.errors.write +
    summary_.errors.timeout + summary_.errors.status,
    table.concat(parts, ",")))
end
