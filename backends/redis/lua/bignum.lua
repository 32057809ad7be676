-- Exact signed integers for the decision scripts. Redis Lua numbers are
-- doubles, exact only below 2^53, while sluice's times are int64 nanoseconds
-- and its intermediates 128-bit. A number is a table of base-10^7 limbs,
-- least significant first, with its sign in field s (zero has no limbs, s = 1).
local B = 10000000

local function norm(a)
  while #a > 0 and a[#a] == 0 do a[#a] = nil end
  if #a == 0 then a.s = 1 end
  return a
end

local function bigN(x)
  local str = x
  if type(x) == 'number' then str = string.format('%.0f', x) end
  local a = {s = 1}
  if string.sub(str, 1, 1) == '-' then
    a.s = -1
    str = string.sub(str, 2)
  end
  local i = #str
  while i >= 1 do
    local j = i - 6
    if j < 1 then j = 1 end
    a[#a + 1] = tonumber(string.sub(str, j, i))
    i = j - 1
  end
  return norm(a)
end

local function bigS(a)
  if #a == 0 then return '0' end
  local parts = {tostring(a[#a])}
  for i = #a - 1, 1, -1 do parts[#parts + 1] = string.format('%07d', a[i]) end
  return (a.s < 0 and '-' or '') .. table.concat(parts)
end

local function cmpabs(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return 0
end

local function bcmp(a, b)
  if a.s ~= b.s then return a.s < b.s and -1 or 1 end
  local c = cmpabs(a, b)
  if a.s < 0 then return -c end
  return c
end

local function addabs(a, b)
  local r = {s = 1}
  local carry = 0
  local n = #a
  if #b > n then n = #b end
  for i = 1, n do
    local v = (a[i] or 0) + (b[i] or 0) + carry
    if v >= B then r[i] = v - B; carry = 1 else r[i] = v; carry = 0 end
  end
  if carry > 0 then r[n + 1] = carry end
  return r
end

-- |a| - |b|, REQUIRES |a| >= |b|.
local function subabs(a, b)
  local r = {s = 1}
  local borrow = 0
  for i = 1, #a do
    local v = a[i] - (b[i] or 0) - borrow
    if v < 0 then r[i] = v + B; borrow = 1 else r[i] = v; borrow = 0 end
  end
  return norm(r)
end

local function badd(a, b)
  local r
  if a.s == b.s then
    r = addabs(a, b)
    r.s = a.s
  elseif cmpabs(a, b) >= 0 then
    r = subabs(a, b)
    r.s = a.s
  else
    r = subabs(b, a)
    r.s = b.s
  end
  return norm(r)
end

local function bneg(a)
  local r = {s = -a.s}
  for i = 1, #a do r[i] = a[i] end
  return norm(r)
end

local function bsub(a, b) return badd(a, bneg(b)) end

local function bmul(a, b)
  if #a == 0 or #b == 0 then return {s = 1} end
  local r = {s = a.s * b.s}
  for i = 1, #a + #b do r[i] = 0 end
  for i = 1, #a do
    local carry = 0
    local ai = a[i]
    for j = 1, #b do
      local v = r[i + j - 1] + ai * b[j] + carry
      carry = math.floor(v / B)
      r[i + j - 1] = v - carry * B
    end
    local k = i + #b
    while carry > 0 do
      local v = r[k] + carry
      carry = math.floor(v / B)
      r[k] = v - carry * B
      k = k + 1
    end
  end
  return norm(r)
end

local function approx(a)
  local v = 0
  for i = #a, 1, -1 do v = v * B + a[i] end
  return v
end

-- Truncating division of magnitudes: returns |a| / |d| and |a| % |d|.
-- Each quotient limb is estimated in floating point and then corrected
-- exactly, so the result never depends on rounding.
local function bdivmodabs(a, d)
  local dabs = {s = 1}
  for i = 1, #d do dabs[i] = d[i] end
  local dv = approx(dabs)
  local digits = {}
  local r = {s = 1}
  for i = #a, 1, -1 do
    table.insert(r, 1, a[i])
    norm(r)
    local q = 0
    if cmpabs(r, dabs) >= 0 then
      q = math.floor(approx(r) / dv)
      if q >= B then q = B - 1 end
      if q < 0 then q = 0 end
      local t = bmul(dabs, bigN(q))
      while cmpabs(t, r) > 0 do
        q = q - 1
        t = subabs(t, dabs)
      end
      r = subabs(r, t)
      while cmpabs(r, dabs) >= 0 do
        q = q + 1
        r = subabs(r, dabs)
      end
    end
    digits[#digits + 1] = q
  end
  local quotient = {s = 1}
  for i = #digits, 1, -1 do quotient[#quotient + 1] = digits[i] end
  return norm(quotient), r
end


-- The numbers the algorithms use: a plain Lua number while |v| < 2^52 (doubles
-- are exact there, with room for one addition), a bignum otherwise. Every
-- operation returns this normal form, so a bignum is always larger in
-- magnitude than any plain number. Most decisions work on differences of
-- times and never leave plain numbers.
local SMALL = 4503599627370496  -- 2^52

local function big(x)
  if type(x) == 'table' then return x end
  local a = {s = 1}
  if x < 0 then a.s = -1; x = -x end
  while x > 0 do
    local limb = x % B
    a[#a + 1] = limb
    x = (x - limb) / B
  end
  return norm(a)
end

local function small(a)
  -- Up to three limbs (< 10^21) the double approximation cannot fall below
  -- 2^52 unless the exact value does, and below 2^53 it is exact.
  if #a <= 3 then
    local v = approx(a)
    if v < SMALL then return a.s * v end
  end
  return a
end

local function N(x)
  if type(x) == 'number' then return x end
  local digits = #x
  if string.sub(x, 1, 1) == '-' then digits = digits - 1 end
  if digits <= 15 then return tonumber(x) end
  return small(bigN(x))
end

local function S(a)
  if type(a) == 'number' then
    if a == 0 then return '0' end  -- never "-0"
    return string.format('%.0f', a)
  end
  return bigS(a)
end

local function cmp(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    if a < b then return -1 elseif a > b then return 1 end
    return 0
  end
  if type(a) == 'number' then return -b.s end  -- |b| > |a|
  if type(b) == 'number' then return a.s end
  return bcmp(a, b)
end

local function add(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    local r = a + b
    if r < SMALL and r > -SMALL then return r end
  end
  return small(badd(big(a), big(b)))
end

local function sub(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    local r = a - b
    if r < SMALL and r > -SMALL then return r end
  end
  return small(bsub(big(a), big(b)))
end

local function mul(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    local r = a * b
    -- A true product of 2^52 or more never rounds below 2^52, so this test
    -- admits only exact products.
    if r < SMALL and r > -SMALL then return r end
  end
  return small(bmul(big(a), big(b)))
end

-- Quotient and remainder of a floor division; REQUIRES d > 0.
local function divmod(a, d)
  if type(a) == 'number' and type(d) == 'number' then
    local q = math.floor(a / d)
    local r = a - q * d
    while r < 0 do q = q - 1; r = r + d end
    while r >= d do q = q + 1; r = r - d end
    return q, r
  end
  local ba = big(a)
  local q, r = bdivmodabs(ba, big(d))
  if ba.s < 0 then
    q.s = -1
    q = norm(q)
    if #r > 0 then
      q = bsub(q, big(1))
      r = bsub(big(d), r)
    end
  end
  return small(q), small(r)
end

local ZERO = 0
local ONE = 1

local function floordiv(a, d)
  local q = divmod(a, d)
  return q
end

local function floormod(a, d)
  local _, r = divmod(a, d)
  return r
end

local function ceildiv(a, d)
  local q, r = divmod(a, d)
  if cmp(r, ZERO) ~= 0 then q = add(q, ONE) end
  return q
end

-- Truncating quotient and remainder of non-negative a by d > 0.
local function divmodabs(a, d) return divmod(a, d) end

local function max(a, b) if cmp(a, b) >= 0 then return a end return b end
local function min(a, b) if cmp(a, b) <= 0 then return a end return b end

-- 9223372036854775807 and -9223372036854775808 as limbs (literals: every
-- call of a script runs this chunk again, so nothing here is parsed).
local INT64_MAX = {s = 1, 4775807, 7203685, 92233}
local INT64_MIN = {s = -1, 4775808, 7203685, 92233}
-- Saturation to the int64 range, as the C++ code does.
local function sat(a) return max(INT64_MIN, min(INT64_MAX, a)) end
-- A duration: never negative, saturated.
local function nanos(a) return sat(max(a, ZERO)) end

-- Times. Stored times are int64 nanoseconds since the epoch, far above 2^52,
-- so a decision works on times relative to an origin E (a multiple of the
-- policy's window, so window arithmetic is unchanged): E = E_HI * 10^9 + E_LO.
-- Decimal strings are split at their last nine digits, which turns parsing and
-- formatting into plain arithmetic; times far from E fall back to bignums.
local BILLION = 1000000000
local E_HI, E_LO = 0, 0
local E_BIG = nil   -- E as a number, computed only when needed
local NEAR_EDGE = false

local function set_origin(hi, lo)
  E_HI, E_LO = hi, lo
  E_BIG = nil
  -- Below this, E plus any plain number stays inside int64.
  NEAR_EDGE = hi >= 9218868437
end

local function origin()
  if E_BIG == nil then E_BIG = add(mul(E_HI, BILLION), E_LO) end
  return E_BIG
end

-- hi, lo of a non-negative decimal time, or nil.
local function split_time(str)
  if string.sub(str, 1, 1) == '-' then return nil end
  local n = #str
  if n <= 9 then return 0, tonumber(str) end
  if n > 19 then return nil end
  return tonumber(string.sub(str, 1, n - 9)), tonumber(string.sub(str, n - 8))
end

-- The time hi * 10^9 + lo relative to the origin.
local function relative(hi, lo)
  local dh = hi - E_HI
  if dh < 4503598 and dh > -4503598 then return dh * BILLION + (lo - E_LO) end
  return sub(add(mul(hi, BILLION), lo), origin())
end

-- A stored time (decimal string) relative to the origin.
local function parse_time(str)
  local hi, lo = split_time(str)
  if hi ~= nil then return relative(hi, lo) end
  return sub(N(str), origin())
end

-- A relative time as the absolute decimal string.
local function format_time(rel)
  if type(rel) == 'number' then
    local v = E_LO + rel
    local carry = math.floor(v / BILLION)
    local lo = v - carry * BILLION
    local hi = E_HI + carry
    if hi > 0 then return string.format('%.0f%09.0f', hi, lo) end
    if hi == 0 then return string.format('%.0f', lo) end
  end
  return S(add(origin(), rel))
end

-- Saturation of a relative time at the int64 bounds of the absolute time.
local function satT(rel)
  if type(rel) == 'number' and not NEAR_EDGE then return rel end
  return sub(sat(add(origin(), rel)), origin())
end
