local function parse_log(text)
  local entries = {}
  if text == nil or text == '' then return entries end
  for t, c in string.gmatch(text, '(-?%d+):(-?%d+)') do entries[#entries + 1] = {t = parse_time(t), c = N(c)} end
  return entries
end

local function format_log(entries)
  local parts = {}
  for i, e in ipairs(entries) do parts[i] = format_time(e.t) .. ':' .. S(e.c) end
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
    d.expires_at = satT(add(now, d.reset_after))
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
  d.expires_at = satT(add(now, d.reset_after))
  return d, {entries = kept, updated = now}, changed
end

ALGORITHMS.sliding_window_log = {run = sliding_window_log, fields = STATE_FIELDS.sliding_window_log, times = {updated = true}, parse = parse_log, format = format_log}
