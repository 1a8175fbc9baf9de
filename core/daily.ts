// The daily shape (DESIGN section 3: look ahead over the boot time with the daily shape where the history
// allows). The policy keeps the requests of every minute of the last DAILY_DAYS days; a rise that came
// at this time of day on each of the last days it has (at least DAILY_MIN_DAYS) is expected again, so
// VMs boot before it instead of after it. The trend cannot see such a rise coming: before it the rate is
// flat. One day's event is not a shape, and a day without the rise (a weekend) cancels the forecast.

const MINUTE_S = 60;
const DAY_MINUTES = 1440;
/** Days of minutes kept. */
const DAILY_DAYS = 3;
/** Days that must each show the rise (a single day's event is not the day's shape). */
const DAILY_MIN_DAYS = 2;
/** Minutes before the same time of day a rise is measured from. */
const BEFORE_MIN = 10;
/** A rise below this share of the level before it is not one (nor is one within 3 Poisson deviations). */
const RISE_MIN = 0.1;
/** The ring: the days, and the ten minutes before the oldest day's time of day. */
export const DAILY_RING = DAILY_DAYS * DAY_MINUTES + BEFORE_MIN;

/** Requests per minute, a ring indexed by minute (-1: not counted), and the last minute counted. */
export interface DailyMemory {
  lastMin: number;
  counts: number[];
}

const slot = (m: number) => ((m % DAILY_RING) + DAILY_RING) % DAILY_RING;
const at = (d: DailyMemory, m: number) => (m > d.lastMin || m <= d.lastMin - DAILY_RING ? -1 : d.counts[slot(m)]);

/**
 * The memory with the minutes the window `perSecond` (ending at second floor(nowS) - 1, which may still
 * be filling) holds whole and has not counted yet; minutes it no longer holds are marked not counted.
 * Unchanged (the same object) until a minute completes.
 */
export function rememberMinutes(daily: DailyMemory | undefined, perSecond: number[], nowS: number): DailyMemory {
  const end = Math.floor(nowS);
  const firstS = end - perSecond.length;
  // The last minute whose seconds all precede the newest one.
  const lastMin = Math.floor((end - 1 - MINUTE_S) / MINUTE_S);
  if (daily && lastMin <= daily.lastMin) return daily;
  const counts = daily ? daily.counts.slice() : new Array<number>(DAILY_RING).fill(-1);
  const from = Math.max(daily ? daily.lastMin + 1 : lastMin - DAILY_RING + 1, lastMin - DAILY_RING + 1);
  for (let m = from; m <= lastMin; m++) {
    const s0 = m * MINUTE_S;
    let c = -1;
    if (s0 >= firstS) {
      c = 0;
      for (let s = s0; s < s0 + MINUTE_S; s++) c += perSecond[s - firstS];
    }
    counts[slot(m)] = c;
  }
  return { lastMin, counts };
}

function meanOf(d: DailyMemory, from: number, to: number): number | null {
  let sum = 0;
  let n = 0;
  for (let m = from; m <= to; m++) {
    const c = at(d, m);
    if (c >= 0) {
      sum += c;
      n++;
    }
  }
  return n > 0 ? sum / n : null;
}

/**
 * Requests/s the daily shape expects on top of `levelRps` within `aheadS` seconds of `nowS`. On each of
 * the last days with their minutes counted, the busiest minute from this time of day to `aheadS` later
 * must have risen clear of the ten minutes before it; scaled by today's last ten minutes over that day's
 * ten before, it is what today may expect. The least of those days' figures, less the level now; 0
 * without DAILY_MIN_DAYS such days, or when today's last minutes are nearer that day's peak than its
 * level before (the rise came early today: the level shift has it).
 */
export function dailyRise(daily: DailyMemory | undefined, nowS: number, aheadS: number, levelRps: number): number {
  if (!daily) return 0;
  const now = Math.floor(nowS / MINUTE_S);
  const last = Math.floor((nowS + aheadS) / MINUTE_S);
  const today = meanOf(daily, now - BEFORE_MIN, now - 1);
  if (today === null) return 0;
  let expected = Number.POSITIVE_INFINITY;
  let days = 0;
  for (let d = 1; d <= DAILY_DAYS; d++) {
    const back = d * DAY_MINUTES;
    const before = meanOf(daily, now - back - BEFORE_MIN, now - back - 1);
    let peak = -1;
    for (let m = now - back; m <= last - back; m++) peak = Math.max(peak, at(daily, m));
    if (before === null || peak < 0) continue;
    days++;
    const rose = peak - before > 3 * Math.sqrt(peak + before / BEFORE_MIN) + RISE_MIN * before;
    if (!rose || today >= Math.sqrt(before * peak)) return 0;
    // A rise from nothing: today's level before it is nothing too (else the check above returned).
    expected = Math.min(expected, (peak * (before > 0 ? today / before : 1)) / MINUTE_S);
  }
  return days >= DAILY_MIN_DAYS ? Math.max(0, expected - levelRps) : 0;
}

/** The mean rate of the last minute of the window, without its newest second (it may still be filling). */
export function lastMinuteRps(perSecond: number[]): number {
  const k = Math.min(MINUTE_S, perSecond.length - 1);
  let sum = 0;
  for (let i = perSecond.length - 1 - k; i < perSecond.length - 1; i++) sum += perSecond[i];
  return k > 0 ? sum / k : 0;
}
