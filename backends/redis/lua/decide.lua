-- Entry points. A record is the hash of docs/redis_format.md.

-- The call's keys and arguments: KEYS and ARGV of a script (EVALSHA), or the
-- parameters of a function (FCALL). Set by each entry point.
local K, A = nil, nil

-- Chooses the origin of relative time for one decision: a multiple of every
-- length the algorithm aligns windows to, near now. Returns now relative to it.
local function enter(algorithm, p, now_hi, now_lo, now_text)
  local align = nil
  if algorithm == 'fixed_window' then
    if p.alignment == 'epoch' then align = p.interval else align = 86400 * BILLION end
  elseif algorithm == 'sliding_window_counter' then
    align = p.interval
  end
  if now_hi == nil then
    set_origin(0, 0)
  elseif align == nil then
    set_origin(now_hi, 0)
  elseif type(align) == 'number' and align % BILLION == 0 then
    local k = align / BILLION
    set_origin(math.floor(now_hi / k) * k, 0)
  elseif type(align) == 'number' and BILLION % align == 0 then
    set_origin(now_hi, math.floor(now_lo / align) * align)
  else
    set_origin(0, 0)  -- an unusual length: absolute times, on bignums
  end
  if now_hi == nil then return N(now_text) end
  return relative(now_hi, now_lo)
end

-- The decision time: the server's TIME, or ARGV[1] from the client.
local function read_now()
  if A[1] == '' then
    local t = redis.call('TIME')
    return tonumber(t[1]), tonumber(t[2]) * 1000, nil
  end
  local hi, lo = split_time(A[1])
  return hi, lo, A[1]
end

-- INT64_MAX, the end of time: an expiry there never passes (as in the C++
-- stores' IsExpired), not even with the clock at exactly INT64_MAX.
local END_OF_TIME = '9223372036854775807'

-- True if relative time `rel` is INT64_MAX.
local function is_end_of_time(rel)
  if type(rel) == 'number' and not NEAR_EDGE then return false end
  return cmp(add(origin(), rel), INT64_MAX) == 0
end

-- Reads a key: its hash, whether it exists, whether it holds a live record,
-- and its state (relative times) if that record is of `algorithm`.
local function load(key, algorithm, now)
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  local exists = h.v ~= nil
  local live = h.k ~= nil and (h.x == nil or h.x == '0' or h.x == END_OF_TIME or cmp(parse_time(h.x), now) > 0)
  local st = nil
  if live and h.k == algorithm then
    local a = ALGORITHMS[algorithm]
    st = {}
    for _, f in ipairs(a.fields) do
      if a.times[f] then st[f] = parse_time(h[f]) else st[f] = N(h[f]) end
    end
    if a.parse then st.entries = a.parse(h.log) end
  end
  return {h = h, exists = exists, live = live, st = st}
end

-- Writes the outcome of a decision, as RedisStore's compare-and-set path does:
-- a state that is fresh again deletes the key (and its fence); a changed or
-- new state replaces the hash and sets its TTL.
local function store(key, k, algorithm, p, d, s, changed, version, now)
  local forever = is_end_of_time(d.expires_at)
  if not forever and cmp(d.expires_at, now) <= 0 then
    -- The fence goes with the key, as in every store: fences never pile up.
    if k.exists then redis.call('DEL', key) end
    return
  end
  -- An unchanged live state needs no write. An unchanged state of a key with
  -- no live record is fresh, so it was deleted above, except at the end of
  -- time (an expiry that never passes): then, as in the C++ stores, nothing
  -- is written either.
  if not changed and (k.live or forever) then return end
  local a = ALGORITHMS[algorithm]
  local args = {'v', version, 'x', format_time(d.expires_at)}
  -- A hash that already holds this algorithm's record keeps its field set:
  -- overwrite what changed. Otherwise start afresh, keeping the fence of a
  -- live value (an expired value's fence has expired with it).
  local same_kind = k.live and k.h.k == algorithm
  if not same_kind then
    redis.call('DEL', key)
    args[#args + 1] = 'k'
    args[#args + 1] = algorithm
    if k.live and k.h.f then
      args[#args + 1] = 'f'
      args[#args + 1] = k.h.f
    end
  end
  local policy = {pl = S(p.limit), pr = S(p.refill), pi = S(p.interval), pw = p.alignment}
  for f, v in pairs(policy) do
    if not same_kind or k.h[f] ~= v then
      args[#args + 1] = f
      args[#args + 1] = v
    end
  end
  for _, f in ipairs(a.fields) do
    args[#args + 1] = f
    if a.times[f] then args[#args + 1] = format_time(s[f]) else args[#args + 1] = S(s[f]) end
  end
  if a.format then
    args[#args + 1] = 'log'
    args[#args + 1] = a.format(s.entries)
  end
  redis.call('HSET', key, unpack(args))
  if forever then
    redis.call('PERSIST', key)
    return
  end
  -- TTL_SLACK_MS (set by the store) keeps the key a little past its exact
  -- expiry `x`: a client whose clock lags the deciding one must still find it.
  redis.call('PEXPIRE', key, S(add(ceildiv(sub(d.expires_at, now), 1000000), TTL_SLACK_MS)))
end

local function policy_at(argv, i)
  return {limit = N(argv[i]), refill = N(argv[i + 1]), interval = N(argv[i + 2]), alignment = argv[i + 3]}
end

-- A value for the reply: an integer reply while exact, digits otherwise.
local function R(a)
  if type(a) == 'number' then return a end
  return S(a)
end

local function reply(d)
  return {d.allowed and 1 or 0, R(d.remaining), R(d.reset_after), R(d.retry_after)}
end

-- Decides `key` with the request whose arguments start at ARGV[at]:
-- operation, cost, limit, refill, interval, alignment, new version.
local function decide_key(key, algorithm, at, now_hi, now_lo, now_text)
  local op, cost, p = A[at], N(A[at + 1]), policy_at(A, at + 2)
  local now = enter(algorithm, p, now_hi, now_lo, now_text)
  local k = load(key, algorithm, now)
  local d, s, changed = ALGORITHMS[algorithm].run(p, k.st, op, cost, now)
  if op ~= 'peek' then store(key, k, algorithm, p, d, s, changed, A[at + 6], now) end
  return reply(d)
end

-- One decision. KEYS[1]; ARGV: now ('' = the server's TIME), operation,
-- cost, limit, refill, interval, alignment, new version.
-- Returns {allowed, remaining, reset_after, retry_after}.
local function decide_one(algorithm, keys, argv)
  K, A = keys, argv
  local now_hi, now_lo, now_text = read_now()
  return decide_key(K[1], algorithm, 2, now_hi, now_lo, now_text)
end

-- Independent decisions in one call (concurrent callers batched together).
-- KEYS: one per decision (repeats allowed: each sees the ones before); ARGV:
-- now, then per key algorithm, operation, cost, limit, refill, interval,
-- alignment, new version. Returns per key allowed, remaining, reset_after,
-- retry_after.
local function decide_batch(keys, argv)
  K, A = keys, argv
  local now_hi, now_lo, now_text = read_now()
  local out = {}
  for i = 1, #K do
    local at = 2 + (i - 1) * 8
    for _, v in ipairs(decide_key(K[i], A[at], at + 1, now_hi, now_lo, now_text)) do out[#out + 1] = v end
  end
  return out
end

-- Several limits, all or nothing. KEYS: distinct keys; ARGV: now, then per key
-- algorithm, operation, cost, limit, refill, interval, alignment, new version.
-- Returns {allowed, then per key allowed, remaining, reset_after,
-- retry_after}; nothing is written unless every limit admits.
local function decide_all(keys, argv)
  K, A = keys, argv
  local now_hi, now_lo, now_text = read_now()
  local plans = {}
  local all = true
  for i = 1, #K do
    local at = 2 + (i - 1) * 8
    local plan = {algorithm = A[at], op = A[at + 1], cost = N(A[at + 2]), p = policy_at(A, at + 3),
                  version = A[at + 7]}
    plan.now = enter(plan.algorithm, plan.p, now_hi, now_lo, now_text)
    plan.origin = {E_HI, E_LO}
    plan.k = load(K[i], plan.algorithm, plan.now)
    local op = plan.op
    if op == 'consume' then op = 'peek' end
    local d = ALGORITHMS[plan.algorithm].run(plan.p, plan.k.st, op, plan.cost, plan.now)
    if plan.op == 'consume' and d.allowed then d.remaining = max(ZERO, sub(d.remaining, plan.cost)) end
    plan.d = d
    all = all and d.allowed
    plans[i] = plan
  end
  if all then
    for i, plan in ipairs(plans) do
      set_origin(plan.origin[1], plan.origin[2])
      local d, s, changed = ALGORITHMS[plan.algorithm].run(plan.p, plan.k.st, plan.op, plan.cost, plan.now)
      if plan.op ~= 'peek' then store(K[i], plan.k, plan.algorithm, plan.p, d, s, changed, plan.version, plan.now) end
      plan.d = d
    end
  end
  local out = {all and 1 or 0}
  for _, plan in ipairs(plans) do
    for _, v in ipairs(reply(plan.d)) do out[#out + 1] = v end
  end
  return out
end
