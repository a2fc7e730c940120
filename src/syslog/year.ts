/**
 * RFC 3164 stamps (`Nov 21 19:28:18`) carry no year. The year that puts the
 * stamp closest to now is the right one: a `Dec 31 23:59:58` line read on
 * January 1st was written last year, a `Jan  1 00:00:02` line read on
 * December 31st by a host whose clock runs a little ahead belongs to next
 * year. fail2ban guesses the same way for its own date templates.
 *
 * Shared by the syslog parser and the filter engine, so a line read from the
 * network and the same line given to `fleetban regex` get the same year.
 */

/**
 * The year (of `now - 1`, `now`, `now + 1`) that puts the wall-clock stamp
 * `month`/`day` `hour:minute:second` closest to `now` (ms since the epoch).
 * `month` is 0-based like Date's. The comparison is done in UTC terms: the
 * few hours a time zone shifts the stamp matter only for stamps half a year
 * away, where either answer is a guess anyway.
 *
 * A 29th of February goes to the nearest leap year.
 */
export function nearestYear(
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  now: number,
): number {
  const thisYear = new Date(now).getUTCFullYear();
  const leapOnly = month === 1 && day === 29;
  let best = thisYear;
  let bestDistance = Infinity;
  // Three candidates cover every ordinary date; Feb 29 may need up to four years back or ahead.
  const reach = leapOnly ? 4 : 1;
  for (let y = thisYear - reach; y <= thisYear + reach; y++) {
    if (leapOnly && !isLeapYear(y)) continue;
    const distance = Math.abs(Date.UTC(y, month, day, hour, minute, second) - now);
    // On a tie (impossible outside Feb 29) the past wins: logs describe what happened.
    if (distance < bestDistance) {
      best = y;
      bestDistance = distance;
    }
  }
  return best;
}

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Days in a month (0-based), for validating stamps before they reach Date, which would roll them over. */
export function daysInMonth(year: number, month: number): number {
  if (month === 1) return isLeapYear(year) ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}
