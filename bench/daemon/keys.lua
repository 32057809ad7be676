-- Copyright 2026 The sluice Authors.
-- SPDX-License-Identifier: Apache-2.0
--
-- wrk script for bench/daemon.sh's memory measurement: every request is a
-- POST /v1/decide on a key never used before ("mem:<thread>:<n>"), with a
-- token bucket of 1 per hour, so each key stays in the store (and limits its
-- user) for an hour. Each thread stops after PER_THREAD answers.
--
--   wrk -t2 -c50 -d120s -s keys.lua URL -- PER_THREAD

local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local per_thread = 500000
local sent = 0
local answered = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  per_thread = tonumber(args[1] or "500000")
end

function request()
  sent = sent + 1
  local body = '{"key":"mem:' .. tid .. ':' .. sent ..
      '","limit":{"algorithm":"token_bucket","limit":1,"period":"1h"}}'
  return wrk.format("POST", "/v1/decide", headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= per_thread then
    wrk.thread:stop()
  end
end
