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

local DAY = 86400000000000

-- The window holding relative time t: its start, and its exact end (the last
-- windows end after INT64_MAX; only the expiry saturates).
local function window_at(p, t)
  if p.alignment == 'epoch' then
    local len = p.interval
    if cmp(len, ONE) < 0 then len = ONE end
    local start = mul(floordiv(t, len), len)
    return satT(start), add(start, len)
  end
  -- The origin is a whole number of days (E_HI is a multiple of 86400).
  local days = tonumber(S(floordiv(t, DAY))) + E_HI / 86400
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
  local base = E_HI / 86400
  return satT(mul(N(first - base), DAY)), mul(N(last - base), DAY)
end

local FW_FIELDS = STATE_FIELDS.fixed_window

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
    d.expires_at = satT(w_end)
  else
    d.reset_after = ZERO
    d.expires_at = now
  end
  if op == 'peek' then return d, nil, false end
  return d, s, not same(s, state, FW_FIELDS)
end

ALGORITHMS.fixed_window = {run = fixed_window, fields = FW_FIELDS, times = {start = true}}
