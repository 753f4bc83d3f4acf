/**
 * Lua scripts for every read-modify-write on Redis: each runs atomically on the server, so two
 * replicas never both pass a budget or rate check. Counters are hashes {usd, tok, husd, htok}
 * (husd/htok: the part held by live reservations); a reservation is a hash {usd, tok, ctrs} plus
 * its expiry in a per-tenant sorted set. Rate windows are hashes {req, tok, last}.
 */

/** Gives back reservations past expiry: their estimates leave the counters they were added to. */
const PURGE = `
local function drop(rk)
  local r = redis.call('HMGET', rk, 'usd', 'tok', 'ctrs')
  if not r[1] then return false end
  for ck in string.gmatch(r[3], '[^\\n]+') do
    redis.call('HINCRBY', ck, 'usd', -tonumber(r[1]))
    redis.call('HINCRBY', ck, 'tok', -tonumber(r[2]))
    redis.call('HINCRBY', ck, 'husd', -tonumber(r[1]))
    redis.call('HINCRBY', ck, 'htok', -tonumber(r[2]))
  end
  redis.call('DEL', rk)
  return true
end
local function purge(zkey, resPrefix, now)
  local expired = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, 500)
  for _, id in ipairs(expired) do
    drop(resPrefix .. id)
    redis.call('ZREM', zkey, id)
  end
end
`;

/**
 * KEYS: resexp, the new reservation, counters...; ARGV: now, expiresAt, usd, tok, resPrefix,
 * resId, counterTtlMs, then per counter its hard limits (usd, tok; -1 for none).
 * Returns {ok, refused counter index (1-based, 0 if ok), usd1, tok1, husd1, htok1, usd2, ...} (counts before).
 */
export const RESERVE = `${PURGE}
purge(KEYS[1], ARGV[5], tonumber(ARGV[1]))
local usd, tok = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {1, 0}
for i = 3, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'usd', 'tok', 'husd', 'htok')
  local cu, ct = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  out[#out + 1] = cu
  out[#out + 1] = ct
  out[#out + 1] = tonumber(v[3]) or 0
  out[#out + 1] = tonumber(v[4]) or 0
  local hu, ht = tonumber(ARGV[8 + (i - 3) * 2]), tonumber(ARGV[9 + (i - 3) * 2])
  if out[1] == 1 and ((hu >= 0 and cu + usd > hu) or (ht >= 0 and ct + tok > ht)) then
    out[1] = 0
    out[2] = i - 2
  end
end
if out[1] == 0 then return out end
local ctrs = {}
for i = 3, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'usd', usd)
  redis.call('HINCRBY', KEYS[i], 'tok', tok)
  redis.call('HINCRBY', KEYS[i], 'husd', usd)
  redis.call('HINCRBY', KEYS[i], 'htok', tok)
  redis.call('PEXPIRE', KEYS[i], ARGV[7])
  ctrs[#ctrs + 1] = KEYS[i]
end
redis.call('HSET', KEYS[2], 'usd', usd, 'tok', tok, 'ctrs', table.concat(ctrs, '\\n'))
-- by the real clock, a day past its TTL: only a safety net behind the purge
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) - tonumber(ARGV[1]) + 86400000)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[6])
return out
`;

/** KEYS: resexp, reservation; ARGV: resId, now, resPrefix. Returns 1 if it was live. */
export const RELEASE = `${PURGE}
local live = drop(KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
purge(KEYS[1], ARGV[3], tonumber(ARGV[2]))
return live and 1 or 0
`;

/**
 * Records usage, one or more records in one call (a batch of one tenant: its keys share a slot).
 * Per record, in order: KEYS: resexp, reservation (or a never-used key), seen, ledger stream, day
 * index, then nAgg aggregate keys, then the record's counters; ARGV: the number of its keys, the
 * number of its args, then resId, seenTtlMs, nAgg, usd, tok, ledger JSON, counterTtlMs,
 * displayName, in, out, cw, cw5, cw1, cr, ws, cost, unpriced.
 * Returns per record 1 if recorded, 0 for a request id seen before (its reservation is released all the same).
 */
export const SETTLE = `${PURGE}
local function settle(K, A)
  local fresh = redis.call('SET', K[3], '1', 'NX', 'PX', A[2])
  local r = redis.call('HMGET', K[2], 'usd', 'tok', 'ctrs')
  local ctrs = nil
  if r[1] then ctrs = r[3] end
  drop(K[2])
  redis.call('ZREM', K[1], A[1])
  if not fresh then return 0 end
  local nAgg = tonumber(A[3])
  local usd, tok = tonumber(A[4]), tonumber(A[5])
  local function charge(ck)
    redis.call('HINCRBY', ck, 'usd', usd)
    redis.call('HINCRBY', ck, 'tok', tok)
    redis.call('PEXPIRE', ck, A[7])
  end
  if ctrs then
    for ck in string.gmatch(ctrs, '[^\\n]+') do charge(ck) end
  else
    for i = 6 + nAgg, #K do charge(K[i]) end
  end
  redis.call('XADD', K[4], 'MAXLEN', '~', '5000000', '*', 'r', A[6])
  local fields = {'in', 'out', 'cw', 'cw5', 'cw1', 'cr', 'ws', 'cost', 'unpriced'}
  for i = 6, 5 + nAgg do
    redis.call('HINCRBY', K[i], 'n', 1)
    -- a field never incremented reads as 0 in the report: most records have no 1 h writes, web searches...
    for j, f in ipairs(fields) do
      if A[8 + j] ~= '0' then redis.call('HINCRBY', K[i], f, A[8 + j]) end
    end
    redis.call('HSET', K[i], 'name', A[8])
    redis.call('SADD', K[5], K[i])
  end
  return 1
end
local out = {}
local ki, ai = 1, 1
while ai <= #ARGV do
  local nk, na = tonumber(ARGV[ai]), tonumber(ARGV[ai + 1])
  out[#out + 1] = settle({unpack(KEYS, ki, ki + nk - 1)}, {unpack(ARGV, ai + 2, ai + 1 + na)})
  ki = ki + nk
  ai = ai + 2 + na
end
return out
`;

/** Sets a window's `last` to `now` unless it is later already. */
const LAST = `
local function touch(key, now)
  local last = tonumber(redis.call('HGET', key, 'last'))
  if not last or now > last then redis.call('HSET', key, 'last', now) end
end
`;

/**
 * Sliding-window check over fixed one-minute windows (mirrors common.ts admits()): the previous
 * window weighs (1 - f), or nothing once its latest request is a minute old.
 * KEYS: per window its current and previous key; ARGV: fraction, tokens, ttlMs, now, then per window rpm, tpm (-1: none).
 * Returns {allowed, then per window prevReq, currReq, prevTok, currTok, prevLast, currLast} (counts before; -1: no last).
 */
export const ADMIT = `${LAST}
local f, tok, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local out = {1}
for i = 1, #KEYS / 2 do
  local c = redis.call('HMGET', KEYS[2 * i - 1], 'req', 'tok', 'last')
  local p = redis.call('HMGET', KEYS[2 * i], 'req', 'tok', 'last')
  local cr, ct, pr, pt = tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(p[1]) or 0, tonumber(p[2]) or 0
  local pl, cl = tonumber(p[3]), tonumber(c[3])
  out[#out + 1] = pr
  out[#out + 1] = cr
  out[#out + 1] = pt
  out[#out + 1] = ct
  out[#out + 1] = pl or -1
  out[#out + 1] = cl or -1
  local w = 1 - f
  if pl and now - 60000 >= pl then w = 0 end
  local rpm, tpm = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  if rpm >= 0 and pr * w + cr + 1 > rpm then out[1] = 0 end
  if tpm >= 0 and pt * w + ct >= tpm then out[1] = 0 end
end
if out[1] == 1 then
  for i = 1, #KEYS / 2 do
    redis.call('HINCRBY', KEYS[2 * i - 1], 'req', 1)
    redis.call('HINCRBY', KEYS[2 * i - 1], 'tok', tok)
    touch(KEYS[2 * i - 1], now)
    redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[3])
  end
end
return out
`;

/** Tokens learnt after the answer, added to current windows. KEYS: window keys; ARGV: tokens, now, ttlMs. */
export const CHARGE = `${LAST}
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'tok', ARGV[1])
  touch(KEYS[i], tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
return 1
`;

/**
 * Remembers a person seen: KEYS: their hash, then the index sets of their identifiers (lower-case);
 * ARGV: sub, username ('' for none), email ('' to keep the known one), display name, now, ttlMs.
 */
export const NOTE_PERSON = `
local k = KEYS[1]
redis.call('HSETNX', k, 'first', ARGV[5])
redis.call('HSET', k, 'sub', ARGV[1], 'name', ARGV[4])
if ARGV[2] ~= '' then redis.call('HSET', k, 'username', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', k, 'email', ARGV[3]) end
if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', k, 'groups', ARGV[7]) end
local last = tonumber(redis.call('HGET', k, 'last'))
if not last or tonumber(ARGV[5]) > last then redis.call('HSET', k, 'last', ARGV[5]) end
redis.call('PEXPIRE', k, ARGV[6])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[6])
end
return 1
`;

/** KEYS[1] the claim; ARGV claimant, ttl ms. The first claimant holds it until it expires; answers the holder. */
export const CLAIM_ONCE = `
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return { redis.call('GET', KEYS[1]) }
`;

/** KEYS[1] the tenant's audit set; ARGV time, row JSON, prune before (epoch ms). */
export const APPEND_AUDIT = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
return { 1 }
`;
