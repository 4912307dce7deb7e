"""Closed-kline streams ordered by open time, even when a bar arrives late.

The sink writes a closed kline with ``XADD key MAXLEN ~ 1000 {open_time}-0``. Redis refuses an id equal to
or smaller than the stream's top ("The ID specified in XADD is equal or smaller than the target stream top
item"). That happens for two different reasons, and telling them apart is the point of this module:

- a *duplicate*: the same bar again (a resend after a pipeline whose reply was lost, a replay): drop, count;
- a *late* bar: the aggregator delivers backfilled bars after the newer live ones that revealed the hole
  (``feed/gaps.py``). Dropping it would lose a bar for good.

:data:`INSERT_LUA` runs atomically in Redis: if ``{open_time}-0`` exists it answers DUPLICATE; if the bar
is older than everything kept in a full stream it answers STALE (outside retention); otherwise it lifts the
entries after it (XDEL), lowers the stream's last id (XSETID), adds the bar and puts the others back with
their own ids, then trims. Cost: the entries after the late bar (usually a handful, at most MAXLEN). A reader
tailing with XREAD past the late bar does not see it; the ``updates`` channel announces it.
"""

from __future__ import annotations

import enum

DUPLICATE_MARK = "equal or smaller than the target stream top item"


class Insert(enum.IntEnum):
    DUPLICATE = 0
    INSERTED = 1
    STALE = 2


# KEYS[1]: the stream. ARGV[1]: the entry id, ARGV[2]: maxlen, ARGV[3..]: field, value, field, value, ...
INSERT_LUA = """
local key, id, maxlen = KEYS[1], ARGV[1], tonumber(ARGV[2])
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
if redis.call('EXISTS', key) == 0 then
  redis.call('XADD', key, 'MAXLEN', '~', maxlen, id, unpack(fields))
  return 1
end
if #redis.call('XRANGE', key, id, id) > 0 then return 0 end
local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
if redis.call('XLEN', key) >= maxlen and #first > 0 then
  local a = first[1][1]
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(id, '(%d+)-(%d+)')
  if tonumber(bms) < tonumber(ams) or (bms == ams and tonumber(bseq) < tonumber(aseq)) then return 2 end
end
local after = redis.call('XRANGE', key, '(' .. id, '+')
for _, e in ipairs(after) do redis.call('XDEL', key, e[1]) end
local top = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
if #top > 0 then redis.call('XSETID', key, top[1][1]) else redis.call('XSETID', key, '0-1') end
redis.call('XADD', key, id, unpack(fields))
for _, e in ipairs(after) do redis.call('XADD', key, e[1], unpack(e[2])) end
redis.call('XTRIM', key, 'MAXLEN', '~', maxlen)
return 1
"""
