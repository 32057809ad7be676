local SWC_FIELDS = STATE_FIELDS.sliding_window_counter

local function sliding_window_counter(p, st, op, cost, now)
  local window = p.interval
  local state = st or {start = satT(mul(floordiv(now, window), window)), cur = ZERO, prev = ZERO, updated = now}
  local s = {start = state.start, cur = state.cur, prev = state.prev, updated = state.updated}
  now = max(now, max(s.updated, s.start))
  local start = satT(mul(floordiv(now, window), window))
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
  d.expires_at = satT(fresh_at)
  if op == 'peek' then return d, nil, false end
  return d, s, not same(s, state, SWC_FIELDS)
end

ALGORITHMS.sliding_window_counter = {run = sliding_window_counter, fields = SWC_FIELDS,
                                   times = {start = true, updated = true}}
