local TB_FIELDS = STATE_FIELDS.token_bucket

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
  d.expires_at = satT(add(now, until_full))
  if op == 'peek' then return d, nil, false end
  return d, s, not same(s, state, TB_FIELDS)
end

ALGORITHMS.token_bucket = {run = token_bucket, fields = TB_FIELDS, times = {updated = true}}
