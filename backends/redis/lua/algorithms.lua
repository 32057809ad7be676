-- The algorithms of docs/algorithms.md on bignums, line for line with
-- src/algo/algorithms.cc. Each takes the policy p (bignums limit, refill,
-- interval; string alignment), the stored state st (bignum fields by hash
-- field name) or nil, the operation ('consume', 'peek', 'refund', 'reset'), the
-- cost and now. It returns the decision d {allowed, remaining, reset_after,
-- retry_after, expires_at} and the new state (nil for a peek) with `changed`.

local function same(a, b, fields)
  for _, f in ipairs(fields) do
    if cmp(a[f], b[f]) ~= 0 then return false end
  end
  return true
end

local TB_FIELDS = {'tokens', 'remainder', 'updated'}

local function token_bucket(p, st, op, cost, now)
  local state = st or {tokens = p.limit, remainder = ZERO, updated = now}
  local s = {tokens = state.tokens, remainder = state.remainder, updated = state.updated}
  now = max(now, s.updated)
  if cmp(now, s.updated) > 0 then
    if cmp(s.tokens, p.limit) >= 0 then
      s = {tokens = p.limit, remainder = ZERO, updated = now}
    else
      local total = add(mul(sub(now, s.updated), p.refill), s.remainder)
      local q, r = divmodabs(total, p.interval)
      local tokens = add(s.tokens, q)
      if cmp(tokens, p.limit) >= 0 then
        s = {tokens = p.limit, remainder = ZERO, updated = now}
      else
        s = {tokens = tokens, remainder = r, updated = now}
      end
    end
  end
  local function wait(want)
    if cmp(s.tokens, want) >= 0 then return ZERO end
    return ceildiv(sub(mul(sub(want, s.tokens), p.interval), s.remainder), p.refill)
  end
  local d = {allowed = true, retry_after = ZERO}
  if op == 'consume' or op == 'peek' then
    if cmp(s.tokens, cost) >= 0 then
      if op == 'consume' then s.tokens = sub(s.tokens, cost) end
    else
      d.allowed = false
      d.retry_after = nanos(wait(cost))
    end
  elseif op == 'refund' then
    if cmp(add(s.tokens, cost), p.limit) >= 0 then
      s.tokens = p.limit
      s.remainder = ZERO
    else
      s.tokens = add(s.tokens, cost)
    end
  else
    s = {tokens = p.limit, remainder = ZERO, updated = now}
  end
  d.remaining = s.tokens
  local until_full = wait(p.limit)
  d.reset_after = nanos(until_full)
  d.expires_at = sat(add(now, until_full))
  if op == 'peek' then return d, nil, false end
  return d, s, not same(s, state, TB_FIELDS)
end

local GCRA_FIELDS = {'tat', 'frac', 'updated'}

local function gcra(p, st, op, cost, now)
  local state = st or {tat = now, frac = ZERO, updated = now}
  now = max(now, state.updated)
  local now_s = mul(now, p.refill)
  local tolerance = mul(p.limit, p.interval)
  local tat = max(add(mul(state.tat, p.refill), state.frac), now_s)
  local d = {allowed = true, retry_after = ZERO}
  if op == 'consume' or op == 'peek' then
    local new_tat = add(tat, mul(cost, p.interval))
    if cmp(sub(new_tat, now_s), tolerance) <= 0 then
      if op == 'consume' then tat = new_tat end
    else
      d.allowed = false
      d.retry_after = nanos(ceildiv(sub(sub(new_tat, now_s), tolerance), p.refill))
    end
  elseif op == 'refund' then
    tat = max(now_s, sub(tat, mul(cost, p.interval)))
  else
    tat = now_s
  end
  d.remaining = sat(floordiv(sub(tolerance, sub(tat, now_s)), p.interval))
  local until_fresh = ceildiv(sub(tat, now_s), p.refill)
  d.reset_after = nanos(until_fresh)
  d.expires_at = sat(add(now, until_fresh))
  if op == 'peek' then return d, nil, false end
  local s = {tat = sat(floordiv(tat, p.refill)), frac = floormod(tat, p.refill), updated = now}
  return d, s, not same(s, state, GCRA_FIELDS)
end

-- Calendar arithmetic on small integers (days), as in src/algo/policy.cc.
local function idiv(a, b)
  local q = a / b
  if q >= 0 then return math.floor(q) end
  return math.ceil(q)
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = idiv(y >= 0 and y or y - 399, 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = idiv(153 * mp + 2, 5) + d - 1
  local doe = yoe * 365 + idiv(yoe, 4) - idiv(yoe, 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = idiv(z >= 0 and z or z - 146096, 146097)
  local doe = z - era * 146097
  local yoe = idiv(doe - idiv(doe, 1460) + idiv(doe, 36524) - idiv(doe, 146096), 365)
  local doy = doe - (365 * yoe + idiv(yoe, 4) - idiv(yoe, 100))
  local mp = idiv(5 * doy + 2, 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end

local DAY = N('86400000000000')

local function window_at(p, t)
  if p.alignment == 'epoch' then
    local len = p.interval
    if cmp(len, ONE) < 0 then len = ONE end
    local start = mul(floordiv(t, len), len)
    return sat(start), sat(add(start, len))
  end
  local days = tonumber(S(floordiv(t, DAY)))
  local first, last = days, days + 1
  if p.alignment == 'week' then
    -- 1970-01-01 was a Thursday: the Monday-based weekday is (days + 3) mod 7.
    first = days - ((days + 3) % 7)
    last = first + 7
  elseif p.alignment == 'month' then
    local y, m = civil_from_days(days)
    first = days_from_civil(y, m, 1)
    if m == 12 then last = days_from_civil(y + 1, 1, 1) else last = days_from_civil(y, m + 1, 1) end
  elseif p.alignment == 'year' then
    local y = civil_from_days(days)
    first = days_from_civil(y, 1, 1)
    last = days_from_civil(y + 1, 1, 1)
  end
  return sat(mul(N(first), DAY)), sat(mul(N(last), DAY))
end

local FW_FIELDS = {'start', 'count'}

local function fixed_window(p, st, op, cost, now)
  local state = st or {start = (window_at(p, now)), count = ZERO}
  local s = {start = state.start, count = state.count}
  local w_start, w_end = window_at(p, now)
  if cmp(s.start, w_start) > 0 then
    -- The clock stepped back into an earlier window: stay in the stored one.
    w_start, w_end = window_at(p, s.start)
    now = w_start
  elseif cmp(s.start, w_start) < 0 then
    s = {start = w_start, count = ZERO}
  end
  local d = {allowed = true, retry_after = ZERO}
  if op == 'consume' or op == 'peek' then
    if cmp(add(s.count, cost), p.limit) <= 0 then
      if op == 'consume' then s.count = add(s.count, cost) end
    else
      d.allowed = false
      d.retry_after = nanos(sub(w_end, now))
    end
  elseif op == 'refund' then
    s.count = max(ZERO, sub(s.count, cost))
  else
    s.count = ZERO
  end
  d.remaining = sub(p.limit, s.count)
  if cmp(s.count, ZERO) > 0 then
    d.reset_after = nanos(sub(w_end, now))
    d.expires_at = w_end
  else
    d.reset_after = ZERO
    d.expires_at = now
  end
  if op == 'peek' then return d, nil, false end
  return d, s, not same(s, state, FW_FIELDS)
end

local function parse_log(text)
  local entries = {}
  if text == nil or text == '' then return entries end
  for t, c in string.gmatch(text, '(-?%d+):(-?%d+)') do entries[#entries + 1] = {t = N(t), c = N(c)} end
  return entries
end

local function format_log(entries)
  local parts = {}
  for i, e in ipairs(entries) do parts[i] = S(e.t) .. ':' .. S(e.c) end
  return table.concat(parts, ',')
end

local function sliding_window_log(p, st, op, cost, now)
  local state = st or {entries = {}, updated = now}
  now = max(now, state.updated)
  local window = p.interval
  local horizon = sub(now, window)
  local entries = state.entries
  local first = 1
  while first <= #entries and cmp(entries[first].t, horizon) <= 0 do first = first + 1 end
  local sum = ZERO
  for i = first, #entries do sum = add(sum, entries[i].c) end
  local d = {allowed = true, retry_after = ZERO}
  local fits = cmp(add(sum, cost), p.limit) <= 0
  if (op == 'consume' or op == 'peek') and not fits then
    d.allowed = false
    local left = sum
    for i = first, #entries do
      left = sub(left, entries[i].c)
      if cmp(add(left, cost), p.limit) <= 0 then
        d.retry_after = nanos(sub(add(entries[i].t, window), now))
        break
      end
    end
  end
  if op == 'peek' then
    d.remaining = sat(sub(p.limit, sum))
    if first <= #entries then
      d.reset_after = nanos(sub(add(entries[#entries].t, window), now))
    else
      d.reset_after = ZERO
    end
    d.expires_at = sat(add(now, d.reset_after))
    return d, nil, false
  end
  local changed = first > 1 or cmp(state.updated, now) ~= 0
  local kept = {}
  for i = first, #entries do kept[#kept + 1] = {t = entries[i].t, c = entries[i].c} end
  if op == 'consume' then
    if fits and cmp(cost, ZERO) > 0 then
      if #kept > 0 and cmp(kept[#kept].t, now) == 0 then
        kept[#kept].c = add(kept[#kept].c, cost)
      else
        kept[#kept + 1] = {t = now, c = cost}
      end
      sum = add(sum, cost)
      changed = true
    end
  elseif op == 'refund' then
    local left = cost
    while cmp(left, ZERO) > 0 and #kept > 0 do
      local take = min(left, kept[#kept].c)
      kept[#kept].c = sub(kept[#kept].c, take)
      sum = sub(sum, take)
      left = sub(left, take)
      if cmp(kept[#kept].c, ZERO) == 0 then kept[#kept] = nil end
      changed = true
    end
  else
    changed = changed or #kept > 0
    kept = {}
    sum = ZERO
  end
  d.remaining = sat(sub(p.limit, sum))
  if #kept == 0 then
    d.reset_after = ZERO
  else
    d.reset_after = nanos(sub(add(kept[#kept].t, window), now))
  end
  d.expires_at = sat(add(now, d.reset_after))
  return d, {entries = kept, updated = now}, changed
end

local SWC_FIELDS = {'start', 'cur', 'prev', 'updated'}

local function sliding_window_counter(p, st, op, cost, now)
  local window = p.interval
  local state = st or {start = sat(mul(floordiv(now, window), window)), cur = ZERO, prev = ZERO, updated = now}
  local s = {start = state.start, cur = state.cur, prev = state.prev, updated = state.updated}
  now = max(now, max(s.updated, s.start))
  local start = sat(mul(floordiv(now, window), window))
  if cmp(s.start, start) ~= 0 then
    if cmp(add(s.start, window), start) == 0 then s.prev = s.cur else s.prev = ZERO end
    s.cur = ZERO
    s.start = start
  end
  s.updated = now
  local elapsed = sub(now, start)
  local function weighted(prev, at) return ceildiv(mul(prev, sub(window, at)), window) end
  local d = {allowed = true, retry_after = ZERO}
  local used = add(weighted(s.prev, elapsed), s.cur)
  if op == 'consume' or op == 'peek' then
    if cmp(add(used, cost), p.limit) <= 0 then
      if op == 'consume' then s.cur = add(s.cur, cost) end
    else
      d.allowed = false
      local room = sub(sub(p.limit, s.cur), cost)
      local wait = N(-1)
      if cmp(room, ZERO) >= 0 and cmp(s.prev, ZERO) > 0 then
        local at = sub(window, floordiv(mul(room, window), s.prev))
        if cmp(at, window) < 0 then wait = sub(at, elapsed) end
      end
      if cmp(wait, ZERO) < 0 then
        local next_room = sub(p.limit, cost)
        local at = ZERO
        if cmp(s.cur, ZERO) ~= 0 then at = max(ZERO, sub(window, floordiv(mul(next_room, window), s.cur))) end
        wait = sub(add(add(start, window), at), now)
      end
      d.retry_after = nanos(wait)
    end
  elseif op == 'refund' then
    s.cur = max(ZERO, sub(s.cur, cost))
  else
    s.cur = ZERO
    s.prev = ZERO
  end
  local used_after = add(weighted(s.prev, elapsed), s.cur)
  d.remaining = sat(max(ZERO, sub(p.limit, used_after)))
  local fresh_at = now
  if cmp(s.cur, ZERO) > 0 then
    fresh_at = add(start, mul(N(2), window))
  elseif cmp(s.prev, ZERO) > 0 then
    fresh_at = add(start, window)
  end
  d.reset_after = nanos(sub(fresh_at, now))
  d.expires_at = sat(fresh_at)
  if op == 'peek' then return d, nil, false end
  return d, s, not same(s, state, SWC_FIELDS)
end
