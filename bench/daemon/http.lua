-- Copyright 2026 The sluice Authors.
-- SPDX-License-Identifier: Apache-2.0
--
-- wrk script for bench/daemon.sh: POSTs a small JSON body whose user key
-- cycles over USERS users (keep-alive, one request at a time per connection).
--
--   wrk -t2 -c50 -d10s --latency -s http.lua URL -- KIND MODE USERS
--
-- KIND   decide: POST /v1/decide with an explicit limit on key "<mode>:<user>"
--        json:   POST /json, envoyproxy/ratelimit's JSON form, domain
--                "bench" (allow) or "bench_deny" (deny), descriptor user=<user>
--        nginx:  POST /allow or /deny with the decide body (nginx ignores it;
--                the client does the same work as for the daemon)
-- MODE   allow: a limit nobody reaches; deny: one request per user per hour,
--        so after the first round over the users every request is denied.
-- USERS  how many distinct users (default 10000).
--
-- Requests are formatted once in init() and replayed, so the client spends
-- the same few instructions per request whatever the body says.

local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local requests = {}
local next_index = 1

local function decide_body(mode, user)
  if mode == "deny" then
    return '{"key":"deny:' .. user .. '","limit":{"algorithm":"token_bucket","limit":1,"period":"1h"}}'
  end
  return '{"key":"allow:' .. user .. '","limit":{"algorithm":"token_bucket","limit":1000000,"period":"1s"}}'
end

local function json_body(mode, user)
  local domain = mode == "deny" and "bench_deny" or "bench"
  return '{"domain":"' .. domain .. '","descriptors":[{"entries":[{"key":"user","value":"' .. user .. '"}]}]}'
end

function init(args)
  local kind = args[1] or "decide"
  local mode = args[2] or "allow"
  local users = tonumber(args[3] or "10000")
  local path
  if kind == "decide" then
    path = "/v1/decide"
  elseif kind == "json" then
    path = "/json"
  elseif kind == "nginx" then
    path = "/" .. mode
  else
    error("http.lua: unknown kind " .. kind)
  end
  local headers = { ["Content-Type"] = "application/json" }
  for i = 1, users do
    local user = "u" .. i
    local body = kind == "json" and json_body(mode, user) or decide_body(mode, user)
    requests[i] = wrk.format("POST", path, headers, body)
  end
  -- Each thread starts at its own place in the cycle.
  next_index = ((tid or 0) * math.floor(users / 2)) % users + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > #requests then next_index = 1 end
  return r
end
