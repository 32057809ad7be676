local GCRA_FIELDS = {'tat', 'frac', 'updated'}

local function gcra(p, st, op, cost, now)
  local state = st or {tat = now, frac = ZERO, updated = now}
  now = max(now, state.updated)
  -- The C++ code works on TAT and now scaled by the refill amount; here the
  -- same quantities are kept relative to now (rel = max(tat, now_s) - now_s),
  -- which is the same integer arithmetic on smaller numbers.
  local tolerance = mul(p.limit, p.interval)
  local rel = max(add(mul(sub(state.tat, now), p.refill), state.frac), ZERO)
  local d = {allowed = true, retry_after = ZERO}
  if op == 'consume' or op == 'peek' then
    local new_rel = add(rel, mul(cost, p.interval))
    if cmp(new_rel, tolerance) <= 0 then
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
  d.remaining = sat(floordiv(sub(tolerance, rel), p.interval))
  local until_fresh = ceildiv(rel, p.refill)
  d.reset_after = nanos(until_fresh)
  d.expires_at = satT(add(now, until_fresh))
  if op == 'peek' then return d, nil, false end
  local q, r = divmod(rel, p.refill)
  local s = {tat = satT(add(now, q)), frac = r, updated = now}
  return d, s, not same(s, state, GCRA_FIELDS)
end

ALGORITHMS.gcra = {run = gcra, fields = {'tat', 'frac', 'updated'}, times = {tat = true, updated = true}}
