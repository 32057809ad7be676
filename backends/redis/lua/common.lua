-- The algorithms of docs/algorithms.md on hybrid numbers, line for line with
-- src/algo/algorithms.cc. Each takes the policy p (numbers limit, refill,
-- interval; string alignment), the stored state st (numbers by hash field
-- name) or nil, the operation ('consume', 'peek', 'refund', 'reset'), the cost
-- and now. It returns the decision d {allowed, remaining, reset_after,
-- retry_after, expires_at}, the new state (nil for a peek) and `changed`, and
-- registers itself in ALGORITHMS with its stored fields.

local ALGORITHMS = {}

local function same(a, b, fields)
  for _, f in ipairs(fields) do
    if cmp(a[f], b[f]) ~= 0 then return false end
  end
  return true
end

