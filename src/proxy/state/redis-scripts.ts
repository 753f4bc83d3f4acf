/**
 * Lua scripts for every read-modify-write on Redis: each runs atomically on the server, so two
 * replicas never both pass a budget or rate check. Counters are hashes {usd, tok}; a reservation
 * is a hash {usd, tok, ctrs} plus its expiry in a per-tenant sorted set.
 */

/** Gives back reservations past expiry: their estimates leave the counters they were added to. */
const PURGE = `
local function drop(rk)
  local r = redis.call('HMGET', rk, 'usd', 'tok', 'ctrs')
  if not r[1] then return false end
  for ck in string.gmatch(r[3], '[^\\n]+') do
    redis.call('HINCRBY', ck, 'usd', -tonumber(r[1]))
    redis.call('HINCRBY', ck, 'tok', -tonumber(r[2]))
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
 * Returns {ok, refused counter index (1-based, 0 if ok), usd1, tok1, usd2, tok2, ...} (counts before).
 */
export const RESERVE = `${PURGE}
purge(KEYS[1], ARGV[5], tonumber(ARGV[1]))
local usd, tok = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {1, 0}
for i = 3, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'usd', 'tok')
  local cu, ct = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  out[#out + 1] = cu
  out[#out + 1] = ct
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
 * KEYS: resexp, reservation (or a never-used key), seen, ledger stream, day index, then
 * ARGV[3] aggregate keys, then the record's counters.
 * ARGV: resId, seenTtlMs, nAgg, usd, tok, ledger JSON, counterTtlMs, displayName,
 * in, out, cw, cw5, cw1, cr, ws, cost, unpriced.
 * Returns 1 if recorded, 0 for a request id seen before (its reservation is released all the same).
 */
export const SETTLE = `${PURGE}
local fresh = redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2])
local r = redis.call('HMGET', KEYS[2], 'usd', 'tok', 'ctrs')
local ctrs = nil
if r[1] then ctrs = r[3] end
drop(KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
if not fresh then return 0 end
local nAgg = tonumber(ARGV[3])
local usd, tok = tonumber(ARGV[4]), tonumber(ARGV[5])
local function charge(ck)
  redis.call('HINCRBY', ck, 'usd', usd)
  redis.call('HINCRBY', ck, 'tok', tok)
  redis.call('PEXPIRE', ck, ARGV[7])
end
if ctrs then
  for ck in string.gmatch(ctrs, '[^\\n]+') do charge(ck) end
else
  for i = 6 + nAgg, #KEYS do charge(KEYS[i]) end
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '5000000', '*', 'r', ARGV[6])
local fields = {'in', 'out', 'cw', 'cw5', 'cw1', 'cr', 'ws', 'cost', 'unpriced'}
for i = 6, 5 + nAgg do
  redis.call('HINCRBY', KEYS[i], 'n', 1)
  for j, f in ipairs(fields) do redis.call('HINCRBY', KEYS[i], f, ARGV[8 + j]) end
  redis.call('HSET', KEYS[i], 'name', ARGV[8])
  redis.call('SADD', KEYS[5], KEYS[i])
end
return 1
`;

/**
 * Sliding-window check over fixed one-minute windows (mirrors common.ts admits()).
 * KEYS: per window its current and previous key; ARGV: fraction, tokens, ttlMs, then per window rpm, tpm (-1: none).
 * Returns {allowed, then per window prevReq, currReq, prevTok, currTok} (counts before).
 */
export const ADMIT = `
local f, tok = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {1}
for i = 1, #KEYS / 2 do
  local c = redis.call('HMGET', KEYS[2 * i - 1], 'req', 'tok')
  local p = redis.call('HMGET', KEYS[2 * i], 'req', 'tok')
  local cr, ct, pr, pt = tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(p[1]) or 0, tonumber(p[2]) or 0
  out[#out + 1] = pr
  out[#out + 1] = cr
  out[#out + 1] = pt
  out[#out + 1] = ct
  local rpm, tpm = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if rpm >= 0 and pr * (1 - f) + cr + 1 > rpm then out[1] = 0 end
  if tpm >= 0 and pt * (1 - f) + ct >= tpm then out[1] = 0 end
end
if out[1] == 1 then
  for i = 1, #KEYS / 2 do
    redis.call('HINCRBY', KEYS[2 * i - 1], 'req', 1)
    redis.call('HINCRBY', KEYS[2 * i - 1], 'tok', tok)
    redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[3])
  end
end
return out
`;
