/**
 * Lines for the syslog benchmarks: what a vpopmail/Courier fleet forwards,
 * half of it failures the shipped filters match, half ordinary traffic. The
 * sequence number makes every line unique, so a receiver's count is a count
 * of distinct messages.
 */
const HEADERS = [
  (i: number) => `<22>Nov 21 19:28:34 mx${i % 8}.example.com vpopmail[20410]: vchkpw-pop3: password fail (pass: 'x${i}') user${i % 97}@example.com:203.0.113.${i % 250}`,
  (i: number) => `<18>Nov 21 19:28:35 mx${i % 8}.example.com imapd: LOGIN FAILED, user=user${i % 97}@example.com, ip=[::ffff:198.51.100.${i % 250}]`,
  (i: number) => `<18>Nov 21 19:28:35 mx${i % 8}.example.com courieresmtpd: error,relay=::ffff:203.0.113.${i % 250},msg="535 Authentication failed.",cmd: AUTH LOGIN seq${i}`,
  (i: number) => `<22>Nov 21 19:28:36 mx${i % 8}.example.com postfix/smtpd[2345]: connect from unknown[198.51.100.${i % 250}] seq=${i}`,
  (i: number) => `<22>Nov 21 19:28:36 mx${i % 8}.example.com imapd: LOGIN, user=user${i % 97}@example.com, ip=[::ffff:198.51.100.${i % 250}], port=[4${i % 1000}], protocol=IMAP`,
  (i: number) => `<22>Nov 21 19:28:37 mx${i % 8}.example.com postfix/qmgr[1200]: 4F${i.toString(16).toUpperCase()}: from=<a${i}@example.org>, size=2${i % 1000}, nrcpt=1 (queue active)`,
];

/** Line `i` of the mix (3 of every 6 are failures). */
export function syslogLine(i: number): string {
  return HEADERS[i % HEADERS.length]!(i);
}

/** How many of lines [0, n) the shipped filters should count as failures. */
export function failuresIn(n: number): number {
  const full = Math.floor(n / HEADERS.length) * 3;
  const rest = n % HEADERS.length;
  return full + Math.min(rest, 3);
}
