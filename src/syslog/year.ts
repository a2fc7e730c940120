/**
 * RFC 3164 stamps (`Nov 21 19:28:18`) carry no year. The rule here: the
 * most recent year that does not put the stamp more than a day in the
 * future. So a `Dec 31 23:59:58` line read on January 1st is last year's;
 * a `Jan  1 00:00:02` line read late on December 31st, from a host whose
 * clock runs a little ahead, is next year's; and a line from last January
 * read in August (a log file given to `fleetban regex`) is this year's, not
 * five months in the future. For live traffic this is the year that puts
 * the stamp closest to now; fail2ban allows the same day of slack for
 * clocks and time zones before it falls back to the previous year.
 *
 * Shared by the syslog parser and the filter engine, so a line read from the
 * network and the same line given to `fleetban regex` get the same year.
 */

/** Slack for clocks running ahead and for time zones: a stamp up to a day ahead of now is still taken as now-ish. */
const AHEAD_MS = 86_400_000;

/**
 * Year of the wall-clock stamp `month`/`day` `hour:minute:second` read at
 * `now` (ms since the epoch). `month` is 0-based like Date's. The
 * comparison is done in UTC terms; the day of slack covers the few hours a
 * time zone shifts the stamp. A 29th of February goes to the latest leap
 * year that fits the same rule.
 */
export function inferYear(month: number, day: number, hour: number, minute: number, second: number, now: number): number {
  const limit = now + AHEAD_MS;
  let y = new Date(limit).getUTCFullYear();
  // At most four steps back for Feb 29, one for every other date.
  for (let tries = 0; tries < 8; tries++, y--) {
    if (month === 1 && day === 29 && !isLeapYear(y)) continue;
    if (Date.UTC(y, month, day, hour, minute, second) <= limit) return y;
  }
  return y;
}

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Days in a month (0-based), for validating stamps before they reach Date, which would roll them over. */
export function daysInMonth(year: number, month: number): number {
  if (month === 1) return isLeapYear(year) ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}
