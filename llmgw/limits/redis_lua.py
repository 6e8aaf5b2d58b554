"""The Lua scripts behind ``RedisStore``: every state change happens inside one of them.

Each script takes a JSON document in ``ARGV[1]`` and the caller's time in ``ARGV[2]`` (integer
microseconds since the epoch, or ``""`` to read Redis ``TIME``). Numbers are exact integers
below 2**53 (money in nanos, time in microseconds). Keys (``P`` is the store's prefix):

``P r:<node>`` / ``P t:<node>``
    GCRA state for requests / tokens per minute: the string ``"<stamp_us> <d> <limit>"``, where
    ``d`` is how far the theoretical arrival time was ahead of ``stamp_us``, in microseconds
    times ``limit`` (so one unit always costs exactly 60e6 and the arithmetic stays integral).
    Expires when the TAT passes.
``P c:<node>``
    Sorted set of admission ids in flight on the node, scored by lease expiry (us).
``P b:<node>|<budget key>|<period id>``
    Hash ``spent``/``reserved`` (nanos). Expires ``BUDGET_GRACE_S`` after the period ends.
``P a:<id>``
    The admission's lease: ``at`` -> admission time (us), ``b:<budget hash key>`` -> reserved
    nanos, ``c:<set key>`` -> 1, ``done`` once settled or released, ``reaped`` once its lease
    ran out. Its presence makes ``ADMIT`` idempotent by id: a second run with the same id (a
    retry whose first reply was lost) returns the recorded grant and changes nothing.
``P leases``
    Sorted set of live admission ids scored by lease expiry (us). ``admit`` reaps up to
    ``REAP_BATCH`` expired ones first: their reservations are refunded and their slots freed,
    so a replica dying mid-call leaks nothing past its lease.
"""

from __future__ import annotations

BUDGET_GRACE_S = 86_400  # budget hashes live this long after their period ends
REAP_BATCH = 32

_COMMON = r"""
local W = 60000000
local P = ARGV[3]

local function now_us()
  if ARGV[2] ~= '' then return tonumber(ARGV[2]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function fmt(n)
  if n == 0 then return '0' end
  return string.format('%.0f', n)
end

local function civil(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- period id and end (seconds) of the period containing second s
local function period(kind, window, s)
  if kind == 'window' then
    local n = math.floor(s / window)
    return 'w' .. fmt(n), (n + 1) * window
  end
  local days = math.floor(s / 86400)
  local y, m, d = civil(days)
  if kind == 'day' then
    return string.format('%04d-%02d-%02d', y, m, d), (days + 1) * 86400
  end
  local ny, nm = y, m + 1
  if nm > 12 then ny, nm = y + 1, 1 end
  return string.format('%04d-%02d', y, m), days_from_civil(ny, nm, 1) * 86400
end

local function budget_ttl(b, s)
  local _, ends = period(b.period, b.window, s)
  local ttl = ends - s + __GRACE__
  if ttl < 1 then ttl = 1 end
  return ttl
end

-- GCRA: how far ahead the TAT is now, in us * limit
local function gcra_load(key, limit, now)
  local v = redis.call('GET', key)
  if not v then return 0 end
  local a, b, c = string.match(v, '^(%S+) (%S+) (%S+)$')
  local stamp, d, old = tonumber(a), tonumber(b), tonumber(c)
  if old ~= limit then d = math.ceil(d * limit / old) end
  local elapsed = now - stamp
  if elapsed < 0 then elapsed = 0 end
  d = d - elapsed * limit
  if d < 0 then d = 0 end
  return d
end

local function gcra_save(key, limit, now, d)
  if d <= 0 then
    redis.call('DEL', key)
  else
    local ms = math.ceil(d / limit / 1000) + 1
    redis.call('SET', key, fmt(now) .. ' ' .. fmt(d) .. ' ' .. fmt(limit), 'PX', fmt(ms))
  end
end

-- add (or with a negative n, refund) n units to a GCRA key
local function gcra_add(key, limit, now, n)
  local d = gcra_load(key, limit, now) + n * W
  if d < 0 then d = 0 end
  gcra_save(key, limit, now, d)
end

-- refund what expired leases still hold
local function reap(now)
  local ids = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', fmt(now), 'LIMIT', 0, __REAP__)
  for _, id in ipairs(ids) do
    local lkey = P .. 'a:' .. id
    if redis.call('HEXISTS', lkey, 'done') == 0 then
      local h = redis.call('HGETALL', lkey)
      for i = 1, #h, 2 do
        local f, v = h[i], h[i + 1]
        local kind, key = string.sub(f, 1, 2), string.sub(f, 3)
        if kind == 'b:' then
          if redis.call('EXISTS', key) == 1 then
            redis.call('HINCRBY', key, 'reserved', fmt(-tonumber(v)))
          end
        elseif kind == 'c:' then
          redis.call('ZREM', key, id)
        end
      end
      redis.call('HSET', lkey, 'reaped', '1')
    end
    redis.call('ZREM', P .. 'leases', id)
  end
end

-- finish a lease: refund its reservations and free its slots unless reaped already;
-- returns 'live', 'reaped' or 'done' (then nothing may change)
local function finish(id, lease_s)
  local lkey = P .. 'a:' .. id
  local h = redis.call('HGETALL', lkey)
  local state = 'reaped'
  local seen = {}
  for i = 1, #h, 2 do seen[h[i]] = h[i + 1] end
  if seen['done'] then return 'done' end
  if #h > 0 and not seen['reaped'] then
    state = 'live'
    for f, v in pairs(seen) do
      local kind, key = string.sub(f, 1, 2), string.sub(f, 3)
      if kind == 'b:' then
        if redis.call('EXISTS', key) == 1 then
          redis.call('HINCRBY', key, 'reserved', fmt(-tonumber(v)))
        end
      elseif kind == 'c:' then
        redis.call('ZREM', key, id)
      end
    end
  end
  redis.call('ZREM', P .. 'leases', id)
  redis.call('HSET', lkey, 'done', '1')
  redis.call('EXPIRE', lkey, fmt(lease_s))
  return state
end
"""

ADMIT = r"""
local req = cjson.decode(ARGV[1])
local lkey = P .. 'a:' .. req.id
local at = redis.call('HGET', lkey, 'at')
if at then
  -- a retry of an admission that already went through (its reply was lost): the same grant,
  -- nothing counted twice; the rate states were not kept, so none are reported
  local again = {'1', at, '', '', '', '', '', ''}
  local s0 = math.floor(tonumber(at) / 1000000)
  for _, n in ipairs(req.nodes) do
    for _, b in ipairs(n.budgets or {}) do
      local pid = period(b.period, b.window, s0)
      table.insert(again, pid)
    end
  end
  return again
end
local now = now_us()
local s = math.floor(now / 1000000)
reap(now)
local cost, tokens = req.cost, req.tokens
local plan = {}
local rq, tk = nil, nil

local function tighter(best, limit, remaining, reset)
  if best == nil or remaining < best[2] then return {limit, remaining, reset} end
  if remaining == best[2] and (limit < best[1] or (limit == best[1] and reset > best[3])) then
    return {limit, remaining, reset}
  end
  return best
end

for i, n in ipairs(req.nodes) do
  local p = {}
  plan[i] = p
  if n.rpm then
    local key = P .. 'r:' .. n.node
    local d = gcra_load(key, n.rpm, now) + W
    local cap = W * n.rpm
    if d > cap then
      return {'0', 'rpm', n.node, string.format('%.6f', (d - cap) / n.rpm / 1000000)}
    end
    p.r = {key, d}
    rq = tighter(rq, n.rpm, math.floor((cap - d) / W), d / n.rpm / 1000000)
  end
  if n.tpm then
    local key = P .. 't:' .. n.node
    local d = gcra_load(key, n.tpm, now) + tokens * W
    local cap = W * n.tpm
    if d > cap then
      local retry = ''
      if tokens <= n.tpm then retry = string.format('%.6f', (d - cap) / n.tpm / 1000000) end
      return {'0', 'tpm', n.node, retry}
    end
    p.t = {key, d}
    tk = tighter(tk, n.tpm, math.floor((cap - d) / W), d / n.tpm / 1000000)
  end
  if n.conc then
    local key = P .. 'c:' .. n.node
    redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
    if redis.call('ZCARD', key) >= n.conc then
      return {'0', 'concurrency', n.node, ''}
    end
    p.c = key
  end
  p.b = {}
  for j, b in ipairs(n.budgets or {}) do
    local pid = period(b.period, b.window, s)
    local key = P .. 'b:' .. n.node .. '|' .. b.key .. '|' .. pid
    if b.hard then
      local v = redis.call('HMGET', key, 'spent', 'reserved')
      local used = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
      if used + cost > b.limit then
        return {'0', 'budget', n.node, '', b.key, v[1] or '0', v[2] or '0'}
      end
    end
    p.b[j] = {key, pid, budget_ttl(b, s)}
  end
end

local lease_until = now + req.lease * 1000000
local out = {'1', fmt(now)}
local lease = {'at', fmt(now)}
for i, n in ipairs(req.nodes) do
  local p = plan[i]
  if p.r then gcra_save(p.r[1], n.rpm, now, p.r[2]) end
  if p.t then gcra_save(p.t[1], n.tpm, now, p.t[2]) end
  if p.c then
    redis.call('ZADD', p.c, fmt(lease_until), req.id)
    redis.call('EXPIRE', p.c, fmt(req.lease))
    table.insert(lease, 'c:' .. p.c)
    table.insert(lease, '1')
  end
  for _, b in ipairs(p.b) do
    redis.call('HINCRBY', b[1], 'reserved', fmt(cost))
    redis.call('EXPIRE', b[1], fmt(b[3]))
    table.insert(lease, 'b:' .. b[1])
    table.insert(lease, fmt(cost))
    table.insert(out, b[2])
  end
end
redis.call('HSET', lkey, unpack(lease))
redis.call('EXPIRE', lkey, fmt(req.lease * 2 + 3600))
redis.call('ZADD', P .. 'leases', fmt(lease_until), req.id)

local function state(x)
  if x == nil then return {'', '', ''} end
  return {fmt(x[1]), fmt(x[2]), string.format('%.6f', x[3])}
end
local head = {out[1], out[2]}
for _, v in ipairs(state(rq)) do table.insert(head, v) end
for _, v in ipairs(state(tk)) do table.insert(head, v) end
for k = 3, #out do table.insert(head, out[k]) end
return head
"""

SETTLE = r"""
local req = cjson.decode(ARGV[1])
local now = now_us()
local s = math.floor(now / 1000000)
local state = finish(req.id, req.lease)
local out = {state}
if state ~= 'done' then
  for _, t in ipairs(req.tpm) do gcra_add(P .. 't:' .. t[1], t[2], now, t[3]) end
end
for _, b in ipairs(req.budgets) do
  local key = P .. 'b:' .. b.node .. '|' .. b.key .. '|' .. b.pid
  if state ~= 'done' and req.cost ~= 0 then
    redis.call('HINCRBY', key, 'spent', fmt(req.cost))
    redis.call('EXPIRE', key, fmt(budget_ttl(b, s)))
  end
  local v = redis.call('HMGET', key, 'spent', 'reserved')
  table.insert(out, v[1] or '0')
  table.insert(out, v[2] or '0')
end
return out
"""

SPEND = r"""
local req = cjson.decode(ARGV[1])
local now = now_us()
local s = math.floor(now / 1000000)
local pid = period(req.period, req.window, s)
local key = P .. 'b:' .. req.node .. '|' .. req.key .. '|' .. pid
if req.restore then
  if redis.call('HSETNX', key, 'spent', fmt(req.restore)) == 1 then
    redis.call('EXPIRE', key, fmt(budget_ttl(req, s)))
  end
end
local v = redis.call('HMGET', key, 'spent', 'reserved')
return {pid, v[1] or '0', v[2] or '0'}
"""


def script(body: str) -> str:
    """A complete script: the shared helpers followed by ``body``."""
    common = _COMMON.replace("__GRACE__", str(BUDGET_GRACE_S)).replace("__REAP__", str(REAP_BATCH))
    return common + body
