-- Entry points. A record is the hash of docs/redis_format.md.

local function server_now()
  local t = redis.call('TIME')
  return add(mul(N(t[1]), N(1000000000)), mul(N(t[2]), N(1000)))
end

-- Reads a key: its hash, whether it exists, whether it holds a live record,
-- and its state if that record is of `algorithm`.
local function load(key, algorithm, now)
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  local exists = h.v ~= nil
  local live = h.k ~= nil and (h.x == nil or h.x == '0' or cmp(N(h.x), now) > 0)
  local st = nil
  if live and h.k == algorithm then
    st = {}
    for _, f in ipairs(ALGORITHMS[algorithm].fields) do st[f] = N(h[f]) end
    if ALGORITHMS[algorithm].parse then st.entries = ALGORITHMS[algorithm].parse(h.log) end
  end
  return {h = h, exists = exists, live = live, st = st}
end

-- Writes the outcome of a decision, as RedisStore's compare-and-set path does:
-- a state that is fresh again deletes the key (keeping a fence); a changed or
-- new state replaces the hash and sets its TTL.
local function store(key, k, algorithm, p, d, s, changed, version, now)
  if cmp(d.expires_at, now) <= 0 then
    if k.exists then
      redis.call('DEL', key)
      if k.h.f then redis.call('HSET', key, 'v', version, 'f', k.h.f) end
    end
    return
  end
  if not (changed or not k.live) then return end
  redis.call('DEL', key)
  local args = {'v', version, 'x', S(d.expires_at), 'k', algorithm, 'pl', S(p.limit), 'pr', S(p.refill),
                'pi', S(p.interval), 'pw', p.alignment}
  for _, f in ipairs(ALGORITHMS[algorithm].fields) do
    args[#args + 1] = f
    args[#args + 1] = S(s[f])
  end
  if ALGORITHMS[algorithm].format then
    args[#args + 1] = 'log'
    args[#args + 1] = ALGORITHMS[algorithm].format(s.entries)
  end
  if k.h.f then
    args[#args + 1] = 'f'
    args[#args + 1] = k.h.f
  end
  redis.call('HSET', key, unpack(args))
  -- TTL_SLACK_MS (set by the store) keeps the key a little past its exact
  -- expiry `x`: a client whose clock lags the deciding one must still find it.
  redis.call('PEXPIRE', key, S(add(ceildiv(sub(d.expires_at, now), N(1000000)), N(TTL_SLACK_MS))))
end

local function policy_at(argv, i)
  return {limit = N(argv[i]), refill = N(argv[i + 1]), interval = N(argv[i + 2]), alignment = argv[i + 3]}
end

local function reply(d)
  return {d.allowed and 1 or 0, S(d.remaining), S(d.reset_after), S(d.retry_after), S(d.expires_at)}
end

-- One decision. KEYS[1]; ARGV: now ('' = the server's TIME), operation,
-- cost, limit, refill, interval, alignment, new version.
-- Returns {allowed, remaining, reset_after, retry_after, expires_at, now}.
local function decide_one(algorithm)
  local now
  if ARGV[1] == '' then now = server_now() else now = N(ARGV[1]) end
  local op, cost, p = ARGV[2], N(ARGV[3]), policy_at(ARGV, 4)
  local k = load(KEYS[1], algorithm, now)
  local d, s, changed = ALGORITHMS[algorithm].run(p, k.st, op, cost, now)
  if op ~= 'peek' then store(KEYS[1], k, algorithm, p, d, s, changed, ARGV[8], now) end
  local out = reply(d)
  out[#out + 1] = S(now)
  return out
end

-- Several limits, all or nothing. KEYS: distinct keys; ARGV: now, then per key
-- algorithm, operation, cost, limit, refill, interval, alignment, new version.
-- Returns {allowed, now, then per key allowed, remaining, reset_after,
-- retry_after, expires_at}; nothing is written unless every limit admits.
local function decide_all()
  local now
  if ARGV[1] == '' then now = server_now() else now = N(ARGV[1]) end
  local plans = {}
  local all = true
  for i = 1, #KEYS do
    local at = 2 + (i - 1) * 8
    local plan = {algorithm = ARGV[at], op = ARGV[at + 1], cost = N(ARGV[at + 2]), p = policy_at(ARGV, at + 3),
                  version = ARGV[at + 7]}
    plan.k = load(KEYS[i], plan.algorithm, now)
    local op = plan.op
    if op == 'consume' then op = 'peek' end
    local d = ALGORITHMS[plan.algorithm].run(plan.p, plan.k.st, op, plan.cost, now)
    if plan.op == 'consume' and d.allowed then d.remaining = max(ZERO, sub(d.remaining, plan.cost)) end
    plan.d = d
    all = all and d.allowed
    plans[i] = plan
  end
  if all then
    for i, plan in ipairs(plans) do
      local d, s, changed = ALGORITHMS[plan.algorithm].run(plan.p, plan.k.st, plan.op, plan.cost, now)
      if plan.op ~= 'peek' then store(KEYS[i], plan.k, plan.algorithm, plan.p, d, s, changed, plan.version, now) end
      plan.d = d
    end
  end
  local out = {all and 1 or 0, S(now)}
  for _, plan in ipairs(plans) do
    for _, v in ipairs(reply(plan.d)) do out[#out + 1] = v end
  end
  return out
end
