local GCRA_FIELDS = STATE_FIELDS.gcra

-- A number as a double (approximate for bignums).
local function approx_of(a)
  if type(a) == 'number' then return a end
  return a.s * approx(a)
end

-- The scaled distance (times `refill`) from relative time `now` to INT64_MAX,
-- or nil when a scaled span of `span` from now certainly ends before it. The
-- estimate in doubles is off by far less than its margin of 1 ms, so the exact
-- bignum distance is computed only near the end of time.
local function scaled_to_end(now, span, refill)
  local left = 9223372036854775807 - (E_HI * BILLION + E_LO) - approx_of(now)
  if approx_of(span) / approx_of(refill) < left - 1000000 then return nil end
  return mul(sub(sub(INT64_MAX, origin()), now), refill)
end

local function gcra(p, st, op, cost, now)
  local state = st or {tat = now, frac = ZERO, updated = now}
  now = max(now, state.updated)
  -- The C++ code works on TAT and now scaled by the refill amount; here the
  -- same quantities are kept relative to now (rel = max(tat, now_s) - now_s),
  -- which is the same integer arithmetic on smaller numbers.
  local tolerance = mul(p.limit, p.interval)
  local rel = max(add(mul(sub(state.tat, now), p.refill), state.frac), ZERO)
  local new_rel = nil
  if op == 'consume' or op == 'peek' then new_rel = add(rel, mul(cost, p.interval)) end
  -- The TAT cannot pass INT64_MAX (end_rel, scaled and relative to now): a
  -- consume that would move it there is denied for good.
  local end_rel = scaled_to_end(now, max(max(tolerance, rel), new_rel or ZERO), p.refill)
  local d = {allowed = true, retry_after = ZERO}
  if op == 'consume' or op == 'peek' then
    if end_rel ~= nil and cmp(new_rel, end_rel) > 0 then
      d.allowed = false
      d.retry_after = INT64_MAX
    elseif cmp(new_rel, tolerance) <= 0 then
      if op == 'consume' then rel = new_rel end
    else
      d.allowed = false
      d.retry_after = nanos(ceildiv(sub(new_rel, tolerance), p.refill))
    end
  elseif op == 'refund' then
    rel = max(ZERO, sub(rel, mul(cost, p.interval)))
  else
    rel = ZERO
  end
  local room = sub(tolerance, rel)
  if end_rel ~= nil then room = min(room, sub(end_rel, rel)) end
  d.remaining = sat(floordiv(room, p.interval))
  local until_fresh = ceildiv(rel, p.refill)
  d.reset_after = nanos(until_fresh)
  d.expires_at = satT(add(now, until_fresh))
  if op == 'peek' then return d, nil, false end
  local q, r = divmod(rel, p.refill)
  local s = {tat = satT(add(now, q)), frac = r, updated = now}
  return d, s, not same(s, state, GCRA_FIELDS)
end

ALGORITHMS.gcra = {run = gcra, fields = GCRA_FIELDS, times = {tat = true, updated = true}}
