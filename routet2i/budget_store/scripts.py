"""The Redis ledger's Lua scripts: each step of a budget decision is one atomic script.

Only what must be atomic runs here: recording a decision in the shared window and money period,
the cap test that decides whether an expensive image fits (``share``: ⌊ρ·window⌋ expensive
decisions in any ``window`` consecutive ones; ``money``: client + shadow spend ≤ the money per
period), and moving or freeing a reservation. α, the routing rule and the reasons are computed
in Python (:mod:`routet2i.routing.threshold`, :mod:`routet2i.routing.rule`) from what the scripts
return, so each formula has one home. The in-memory controller
(:class:`~routet2i.routing.budget.BudgetController`) is the reference: the contract tests run one
battery against both and compare every verdict.

Keys (``P`` is the ledger's ``{prefix}``, braced so Redis Cluster keeps them in one slot):

``P:policy`` / ``P:seed``   the shared policy (JSON, with ``cloud_limit``) / hash of the config it came from
``P:c``                     counters: ``seq`` (tickets), ``n`` / ``exp`` / ``fexp`` (window decisions,
                            expensive, forced expensive), ``stale``, ``cq`` / ``eq`` (quote sums),
                            ``req`` / ``spent`` (client requests and spend in the money period),
                            ``sreq`` / ``sspent`` (shadow), ``started``, ``decisions``, ``capped``, ``epoch``
``P:w`` / ``P:we``          the window: tickets oldest first / ticket → ``tier|forced|auto|cq|eq``
                            (auto 1: in the live sample, 2: a replaced router's PRŜ, 0: neither)
``P:prs``                   the live PRŜ sample (sorted set ticket → PRŜ)
``P:mq`` / ``P:mb`` / ``P:mn``  the client money slices: starts oldest first / start → cost / → count
``P:sq`` / ``P:sb`` / ``P:sn``  the same for shadow images
``P:reasons``               decisions by reason
``P:o:<ticket>``            one open reservation (``tier``, ``cost``, ``b`` its slice, ``kind``), with a
                            TTL: a gateway that dies leaves nothing open past it

Every script reads the clock of the Redis server (``TIME``) so all gateways share one, unless
the caller passes ``now`` (tests). A script finding no policy answers ``NOPOLICY``: the store
lost its state (a restart without persistence) and the gateway seeds it again.
"""

from __future__ import annotations

#: Shared head of every script: key names, the clock, the policy, the money slices.
_PRELUDE = r"""
local P = KEYS[1]
local C = P .. ':c'
local function now_of(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local raw = redis.call('GET', P .. ':policy')
if not raw then return redis.error_reply('NOPOLICY') end
local pol = cjson.decode(raw)
local function opt(v) if v == cjson.null then return nil end return v end
local limit = opt(pol.cloud_limit)
local money = opt(pol.money_per_period)
local period = pol.period_s
local window = pol.window
local function num(field) return tonumber(redis.call('HGET', C, field) or '0') end
local function fmt(x) return string.format('%.17g', x) end
-- drop the money slices wholly older than the period (line: 'm' client, 's' shadow)
local function expire(line, now)
  local q, b, n = P .. ':' .. line .. 'q', P .. ':' .. line .. 'b', P .. ':' .. line .. 'n'
  local spent, req = (line == 'm') and 'spent' or 'sspent', (line == 'm') and 'req' or 'sreq'
  local width = period / 512
  while true do
    local first = redis.call('LINDEX', q, 0)
    if not first or tonumber(first) + width > now - period then break end
    redis.call('LPOP', q)
    redis.call('HINCRBYFLOAT', C, spent, -tonumber(redis.call('HGET', b, first) or '0'))
    redis.call('HINCRBY', C, req, 0 - tonumber(redis.call('HGET', n, first) or '0'))
    redis.call('HDEL', b, first)
    redis.call('HDEL', n, first)
  end
  if redis.call('LLEN', q) == 0 then redis.call('HSET', C, spent, 0, req, 0) end
end
-- the slice a record made at now goes into (its start, as stored)
local function slice(line, now)
  local q = P .. ':' .. line .. 'q'
  local last = redis.call('LINDEX', q, -1)
  if last and now < tonumber(last) + period / 512 then return last end
  local start = fmt(now)
  redis.call('RPUSH', q, start)
  return start
end
local function add(line, start, cost)
  redis.call('HINCRBYFLOAT', P .. ':' .. line .. 'b', start, cost)
  redis.call('HINCRBY', P .. ':' .. line .. 'n', start, 1)
  redis.call('HINCRBYFLOAT', C, (line == 'm') and 'spent' or 'sspent', cost)
  redis.call('HINCRBY', C, (line == 'm') and 'req' or 'sreq', 1)
end
local function alive(line, start)
  return redis.call('HEXISTS', P .. ':' .. line .. 'b', start) == 1
end
local function split(s)
  local t = {}
  for part in string.gmatch(s, '[^|]+') do t[#t + 1] = part end
  return t
end
local function money_over(extra)
  return money ~= nil and num('spent') + num('sspent') + extra > money * (1 + 1e-12) + 1e-12
end
-- drop the oldest decisions beyond the window size
local function trim(expensive)
  while num('n') > window do
    local t = redis.call('LPOP', P .. ':w')
    local e = split(redis.call('HGET', P .. ':we', t))
    redis.call('HDEL', P .. ':we', t)
    redis.call('HINCRBY', C, 'n', -1)
    if e[1] == expensive then
      redis.call('HINCRBY', C, 'exp', -1)
      if e[2] == '1' then redis.call('HINCRBY', C, 'fexp', -1) end
    end
    if e[3] == '1' then redis.call('ZREM', P .. ':prs', t) elseif e[3] == '2' then redis.call('HINCRBY', C, 'stale', -1) end
    redis.call('HINCRBYFLOAT', C, 'cq', -tonumber(e[4]))
    redis.call('HINCRBYFLOAT', C, 'eq', -tonumber(e[5]))
  end
  if num('n') == 0 then redis.call('HSET', C, 'cq', 0, 'eq', 0) end
end
"""

#: ARGV: now. Returns the counts :class:`~routet2i.routing.threshold.WindowCounts` needs and the state.
VIEW = (
    _PRELUDE
    + r"""
local now = now_of(ARGV[1])
expire('m', now)
expire('s', now)
local started = redis.call('HGET', C, 'started')
local out = {}
for _, f in ipairs({'n', 'exp', 'fexp', 'stale', 'req', 'sreq', 'decisions', 'capped', 'epoch'}) do
  out[#out + 1] = tostring(num(f))
end
out[#out + 1] = tostring(redis.call('ZCARD', P .. ':prs'))
for _, f in ipairs({'cq', 'eq', 'spent', 'sspent'}) do out[#out + 1] = fmt(num(f)) end
out[#out + 1] = started and fmt(now - tonumber(started)) or ''
out[#out + 1] = raw
out[#out + 1] = redis.call('GET', P .. ':id') or ''
return out
"""
)

#: ARGV: now, wanted tier, expensive tier name, cheap tier name, forced (0/1), PRŜ ('' none),
#: in the live sample (0/1), the caller's epoch, cheap cost, expensive cost, reason, TTL ms.
#: Returns {ticket, tier, cap ('' none)}.
RESERVE = (
    _PRELUDE
    + r"""
local now = now_of(ARGV[1])
local wanted, expensive, cheap = ARGV[2], ARGV[3], ARGV[4]
local forced, prs, sample, epoch = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local cheap_cost, exp_cost, reason, ttl = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11], tonumber(ARGV[12])
expire('m', now)
expire('s', now)
if not redis.call('HGET', C, 'started') then redis.call('HSET', C, 'started', fmt(now)) end
local tier, cap = wanted, ''
if wanted == expensive then
  local after = num('exp') + 1
  if num('n') >= window then
    local oldest = redis.call('LINDEX', P .. ':w', 0)
    if oldest and split(redis.call('HGET', P .. ':we', oldest))[1] == expensive then after = after - 1 end
  end
  if limit ~= nil and after > limit then cap = 'share' elseif money_over(exp_cost) then cap = 'money' end
  if cap ~= '' then tier, reason = cheap, 'budget_cap' end
end
local ticket = redis.call('HINCRBY', C, 'seq', 1)
local cost = (tier == expensive) and exp_cost or cheap_cost
local start = slice('m', now)
add('m', start, cost)
local auto = '0'
if prs ~= '' and forced == 0 then
  if sample == '1' and epoch == tostring(num('epoch')) then
    auto = '1'
    redis.call('ZADD', P .. ':prs', prs, ticket)
  else
    auto = '2'
    redis.call('HINCRBY', C, 'stale', 1)
  end
end
redis.call('RPUSH', P .. ':w', ticket)
redis.call('HSET', P .. ':we', ticket, table.concat({tier, forced, auto, fmt(cheap_cost), fmt(exp_cost)}, '|'))
redis.call('HINCRBY', C, 'n', 1)
if tier == expensive then
  redis.call('HINCRBY', C, 'exp', 1)
  if forced == 1 then redis.call('HINCRBY', C, 'fexp', 1) end
end
redis.call('HINCRBYFLOAT', C, 'cq', cheap_cost)
redis.call('HINCRBYFLOAT', C, 'eq', exp_cost)
trim(expensive)
local o = P .. ':o:' .. ticket
redis.call('HSET', o, 'kind', 'client', 'tier', tier, 'cost', fmt(cost), 'b', start)
redis.call('PEXPIRE', o, ttl)
redis.call('HINCRBY', C, 'decisions', 1)
if cap ~= '' then redis.call('HINCRBY', C, 'capped', 1) end
redis.call('HINCRBY', P .. ':reasons', reason, 1)
return {ticket, tier, cap}
"""
)

#: ARGV: now, ticket, new tier ('' : released, it produced nothing), cost, expensive tier name,
#: check (1: refuse a move to the expensive tier that breaks the budget). Returns 1 moved (or
#: already there), 0 refused, -1 no such open reservation (settled, or expired).
MOVE = (
    _PRELUDE
    + r"""
local now = now_of(ARGV[1])
local ticket, tier, cost, expensive, check = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
expire('m', now)
expire('s', now)
local o = P .. ':o:' .. ticket
local old_tier = redis.call('HGET', o, 'tier')
if not old_tier or redis.call('HGET', o, 'kind') ~= 'client' then return -1 end
if tier == '' then tier = 'none' end
if tier == old_tier then return 1 end
local old_cost = tonumber(redis.call('HGET', o, 'cost'))
local start = redis.call('HGET', o, 'b')
local raw_entry = redis.call('HGET', P .. ':we', ticket)
if check == '1' and tier == expensive then
  local after = num('exp') + 1
  if not raw_entry then after = after - 1 end
  if limit ~= nil and after > limit then return 0 end
  local freed = alive('m', start) and old_cost or 0
  if money_over(cost - freed) then return 0 end
end
if raw_entry then
  local e = split(raw_entry)
  local forced = (e[2] == '1') and 1 or 0  -- 0 - forced: a negated 0 reaches Redis as '-0', not an integer
  if e[1] == expensive then
    redis.call('HINCRBY', C, 'exp', -1)
    redis.call('HINCRBY', C, 'fexp', 0 - forced)
  end
  if tier == expensive then
    redis.call('HINCRBY', C, 'exp', 1)
    redis.call('HINCRBY', C, 'fexp', forced)
  end
  e[1] = tier
  redis.call('HSET', P .. ':we', ticket, table.concat(e, '|'))
end
if alive('m', start) then
  redis.call('HINCRBYFLOAT', P .. ':mb', start, cost - old_cost)
  redis.call('HINCRBYFLOAT', C, 'spent', cost - old_cost)
end
redis.call('HSET', o, 'tier', tier, 'cost', fmt(cost))
return 1
"""
)

#: ARGV: now, cost, max images per period, keep share, TTL ms. Returns {ticket} or {-1, reason}.
RESERVE_SHADOW = (
    _PRELUDE
    + r"""
local now = now_of(ARGV[1])
local cost, max_images, keep, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
expire('m', now)
expire('s', now)
if num('sreq') >= max_images then return {-1, 'cap'} end
if money ~= nil then
  local allowed = money * (1 - keep)
  if num('spent') + num('sspent') + cost > allowed * (1 + 1e-12) + 1e-12 then return {-1, 'money'} end
end
local ticket = redis.call('HINCRBY', C, 'seq', 1)
local start = slice('s', now)
add('s', start, cost)
local o = P .. ':o:' .. ticket
redis.call('HSET', o, 'kind', 'shadow', 'cost', fmt(cost), 'b', start)
redis.call('PEXPIRE', o, ttl)
return {ticket}
"""
)

#: ARGV: now, ticket. The shadow image was not made: its cost stops counting.
RELEASE_SHADOW = (
    _PRELUDE
    + r"""
local now = now_of(ARGV[1])
expire('m', now)
expire('s', now)
local o = P .. ':o:' .. ARGV[2]
if redis.call('HGET', o, 'kind') ~= 'shadow' then return 0 end
local cost = tonumber(redis.call('HGET', o, 'cost'))
local start = redis.call('HGET', o, 'b')
if alive('s', start) then
  redis.call('HINCRBYFLOAT', P .. ':sb', start, -cost)
  redis.call('HINCRBYFLOAT', C, 'sspent', -cost)
end
redis.call('HSET', o, 'cost', 0)
return 1
"""
)

#: A new router is live: the live sample becomes stale. Returns the new epoch.
RECALIBRATE = (
    _PRELUDE
    + r"""
local members = redis.call('ZRANGE', P .. ':prs', 0, -1)
for _, t in ipairs(members) do
  local e = split(redis.call('HGET', P .. ':we', t))
  e[3] = '2'
  redis.call('HSET', P .. ':we', t, table.concat(e, '|'))
end
redis.call('HINCRBY', C, 'stale', #members)
redis.call('DEL', P .. ':prs')
return redis.call('HINCRBY', C, 'epoch', 1)
"""
)

#: ARGV: policy JSON, expensive tier name. An operator's change: the new policy, the window cut to
#: its size.
SET_POLICY = (
    r"""
local P = KEYS[1]
redis.call('SET', P .. ':policy', ARGV[1])
"""
    + _PRELUDE.split("local P = KEYS[1]", 1)[1]
    + r"""
trim(ARGV[2])
return 1
"""
)

#: ARGV: policy JSON, its seed hash, a new instance id. Seeds the policy when there is none or when the gateway's
#: configuration changed since the stored one was seeded (the stored one also keeps operator
#: changes made at run time). Returns {policy JSON, epoch, instance id}.
SEED = r"""
local P = KEYS[1]
local stored = redis.call('GET', P .. ':policy')
if not stored or redis.call('GET', P .. ':seed') ~= ARGV[2] then
  redis.call('SET', P .. ':policy', ARGV[1])
  redis.call('SET', P .. ':seed', ARGV[2])
  stored = ARGV[1]
end
redis.call('SETNX', P .. ':id', ARGV[3])
return {stored, tostring(redis.call('HGET', P .. ':c', 'epoch') or '0'), redis.call('GET', P .. ':id')}
"""
