import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { FrameDecoder } from '../../src/syslog/frame-decoder.js';
import { parseSyslog, trimFrameEnd } from '../../src/syslog/syslog-parser.js';
import { Timezone } from '../../src/syslog/timezone.js';

// Bytes real clients put on the wire (see the README next to them), parsed
// to the fields a filter and a jail rely on. TCP captures go through the
// frame decoder whole, one byte at a time, and in random chunks: the result
// must not depend on how the kernel happened to split the stream.

const CAPTURES = join(import.meta.dirname, '../fixtures/syslog-captures');
/** The captures were made on 2026-11-21; RFC 3164 stamps get their year from "now". Their hosts ran in UTC. */
const OPTS = { now: Date.parse('2026-11-21T20:00:00Z'), zone: Timezone.utc };

const VPOPMAIL = 'vchkpw-pop3: vpopmail user not found www@:24.153.205.71';
const IMAP_FOO = 'LOGIN FAILED, user=foo, ip=[::ffff:198.51.100.7]';
const POP3_BAR = 'LOGIN FAILED, user=bar@example.com, ip=[::ffff:198.51.100.8]';
const ESMTP_AUTH = 'error,relay=::ffff:203.0.113.9,ident=,msg="535 Authentication failed.",cmd: AUTH LOGIN';
const SASL = 'warning: unknown[203.0.113.50]: SASL LOGIN authentication failed: UGFzc3dvcmQ6';
/** The user name was the bytes ff fe c3 28: three invalid UTF-8 sequences become U+FFFD, the rest is kept. */
const IMAP_BAD_UTF8 = 'LOGIN FAILED, user=\ufffd\ufffd\ufffd(, ip=[::ffff:198.51.100.7]';
/** An RFC 5424 line rsyslog read from its local socket and forwarded as the message of its own header. */
const IMUXSOCK_5424 =
  '2026-11-21T19:28:36.743905+00:00 vm app - ID47 [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry \\"very\\""] via imuxsock 5424';
const FEEDFILE = 'raw line appended to a file, read by imfile';
const aaa = (n: number) => 'A'.repeat(n);

/** [header format, PRI, time, hostname, app, pid, message] of each message, in order. */
type Row = ['5424' | '3164', number | undefined, string | null, string | undefined, string | undefined, string | undefined, string];

const EXPECTED: Record<string, Row[]> = {
  'logger/tcp5514-conn006.bin': [
    ['5424', 18, "2026-11-21T19:28:19.842Z", "vm", "courieresmtpd", undefined, ESMTP_AUTH],
  ],
  'logger/tcp5514-conn007.bin': [
    ['3164', 18, "2026-11-21T19:28:20.000Z", "vm", "courierpop3login", undefined, POP3_BAR],
  ],
  'logger/tcp5514-conn008.bin': [
    ['3164', 38, "2026-11-21T19:28:20.000Z", "vm", "sshd", "999", "Failed password for invalid user admin from 203.0.113.5 port 50022 ssh2"],
  ],
  'logger/tcp5514-conn009.bin': [
    ['5424', 38, "2026-11-21T19:28:20.455Z", "vm", "sshd", "999", "no octet count 5424"],
  ],
  'logger/tcp5514-conn010.bin': [
    ['3164', 22, "2026-11-21T19:28:20.000Z", "vm", "multi", undefined, "line one"],
    ['3164', 22, "2026-11-21T19:28:20.000Z", "vm", "multi", undefined, "line two"],
  ],
  'logger/tcp5514-conn011.bin': [
    ['3164', 22, "2026-11-21T19:28:20.000Z", "vm", "postfix/cleanup", "4321", aaa(71680)],
  ],
  'logger/udp5514-000.bin': [
    ['3164', 22, "2026-11-21T19:28:18.000Z", "vm", "vpopmail", "20410", VPOPMAIL],
  ],
  'logger/udp5514-001.bin': [
    ['3164', 18, "2026-11-21T19:28:18.000Z", "vm", "imapd", undefined, IMAP_FOO],
  ],
  'logger/udp5514-002.bin': [
    ['5424', 22, "2026-11-21T19:28:18.604Z", "vm", "vpopmail", "20410", VPOPMAIL],
  ],
  'logger/udp5514-003.bin': [
    ['5424', 22, "2026-11-21T19:28:18.817Z", "vm", "postfix/smtpd", "1234", "connect from unknown[203.0.113.9]"],
  ],
  'logger/udp5514-004.bin': [
    ['5424', 13, null, undefined, "app", undefined, "nil fields"],
  ],
  'logger/udp5514-005.bin': [
    ['3164', 18, "2026-11-21T19:28:19.000Z", "vm", "imapd", undefined, IMAP_BAD_UTF8],
  ],
  'logger2/udp5514-000.bin': [
    ['5424', 134, "2026-11-21T19:28:24.851Z", "vm", "app", undefined, "SD escapes test"],
  ],
  'logger2/udp5514-001.bin': [
    ['5424', 134, "2026-11-21T19:28:25.056Z", "vm", "app", undefined, "BOM prefixed üser"],
  ],
  'logger2/udp5514-002.bin': [
    ['5424', 22, "2026-11-21T19:28:25.264Z", "vm", "postfix/smtpd", "1234", "connect from unknown[203.0.113.9]"],
  ],
  'rsyslog/tcp5514-conn000.bin': [
    ['3164', 22, "2026-11-21T19:28:34.000Z", "mx1.example.com", "vpopmail", "20410", VPOPMAIL],
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "imapd", undefined, IMAP_FOO],
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "courierpop3login", undefined, POP3_BAR],
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "courieresmtpd", undefined, ESMTP_AUTH],
    ['3164', 22, "2026-11-21T19:28:36.000Z", "mx1.example.com", "postfix/smtpd", "2345", SASL],
    ['3164', 18, "2026-11-21T19:28:36.000Z", "mx1.example.com", "imapd", undefined, IMAP_BAD_UTF8],
    ['3164', 134, "2026-11-21T19:28:36.000Z", "mx1.example.com", undefined, undefined, `1 ${IMUXSOCK_5424}`],
    ['3164', 13, "2026-11-21T19:28:37.000Z", "mx1.example.com", undefined, undefined, "this message has no tag at all"],
    ['3164', 22, "2026-11-21T19:28:37.000Z", "mx1.example.com", "postfix/smtpd", "77", "with trailing LF"],
    ['3164', 0, "2026-11-21T19:28:37.000Z", "mx1.example.com", undefined, undefined, "pri at all here"],
    ['3164', 0, "2026-11-21T19:28:38.000Z", "mx1.example.com", "kern", undefined, "prival zero"],
    ['3164', 22, "2026-11-21T19:28:38.000Z", "mx1.example.com", "postfix/cleanup", "4321", aaa(71680)],
    ['3164', 22, "2026-11-21T19:28:38.000Z", "mx1.example.com", "feedfile", undefined, FEEDFILE],
  ],
  'rsyslog/tcp5515-conn001.bin': [
    ['3164', 22, "2026-11-21T19:28:34.000Z", "mx1.example.com", "vpopmail", "20410", VPOPMAIL],
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "imapd", undefined, IMAP_FOO],
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "courierpop3login", undefined, POP3_BAR],
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "courieresmtpd", undefined, ESMTP_AUTH],
    ['3164', 22, "2026-11-21T19:28:36.000Z", "mx1.example.com", "postfix/smtpd", "2345", SASL],
    ['3164', 18, "2026-11-21T19:28:36.000Z", "mx1.example.com", "imapd", undefined, IMAP_BAD_UTF8],
    ['3164', 134, "2026-11-21T19:28:36.000Z", "mx1.example.com", undefined, undefined, `1 ${IMUXSOCK_5424}`],
    ['3164', 13, "2026-11-21T19:28:37.000Z", "mx1.example.com", undefined, undefined, "this message has no tag at all"],
    ['3164', 22, "2026-11-21T19:28:37.000Z", "mx1.example.com", "postfix/smtpd", "77", "with trailing LF"],
    ['3164', 0, "2026-11-21T19:28:37.000Z", "mx1.example.com", undefined, undefined, "pri at all here"],
    ['3164', 0, "2026-11-21T19:28:38.000Z", "mx1.example.com", "kern", undefined, "prival zero"],
    ['3164', 22, "2026-11-21T19:28:38.000Z", "mx1.example.com", "postfix/cleanup", "4321", aaa(71680)],
    ['3164', 22, "2026-11-21T19:28:38.000Z", "mx1.example.com", "feedfile", undefined, FEEDFILE],
  ],
  'rsyslog/tcp5518-conn002.bin': [
    ['5424', 22, "2026-11-21T19:28:34.907Z", "mx1.example.com", "vpopmail", "20410", VPOPMAIL],
    ['5424', 18, "2026-11-21T19:28:35.216Z", "mx1.example.com", "imapd", undefined, IMAP_FOO],
    ['5424', 18, "2026-11-21T19:28:35.520Z", "mx1.example.com", "courierpop3login", undefined, POP3_BAR],
    ['5424', 18, "2026-11-21T19:28:35.827Z", "mx1.example.com", "courieresmtpd", undefined, ESMTP_AUTH],
    ['5424', 22, "2026-11-21T19:28:36.133Z", "mx1.example.com", "postfix", "2345", SASL],
    ['5424', 18, "2026-11-21T19:28:36.439Z", "mx1.example.com", "imapd", undefined, IMAP_BAD_UTF8],
    ['5424', 134, "2026-11-21T19:28:36.743Z", "mx1.example.com", "1", undefined, IMUXSOCK_5424],
    ['5424', 13, "2026-11-21T19:28:37.170Z", "mx1.example.com", "this", undefined, "message has no tag at all"],
    ['5424', 22, "2026-11-21T19:28:37.473Z", "mx1.example.com", "postfix", "77", "with trailing LF"],
    ['5424', 0, "2026-11-21T19:28:37.773Z", "mx1.example.com", undefined, undefined, "pri at all here"],
    ['5424', 0, "2026-11-21T19:28:38.073Z", "mx1.example.com", "kern", undefined, "prival zero"],
    ['5424', 22, "2026-11-21T19:28:38.391Z", "mx1.example.com", "postfix", "4321", aaa(71680)],
    ['5424', 22, "2026-11-21T19:28:38.897Z", "mx1.example.com", "feedfile", undefined, FEEDFILE],
  ],
  'rsyslog/udp5514-003.bin': [
    ['3164', 22, "2026-11-21T19:28:34.000Z", "mx1.example.com", "vpopmail", "20410", VPOPMAIL],
  ],
  'rsyslog/udp5514-006.bin': [
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "imapd", undefined, IMAP_FOO],
  ],
  'rsyslog/udp5514-009.bin': [
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "courierpop3login", undefined, POP3_BAR],
  ],
  'rsyslog/udp5514-012.bin': [
    ['3164', 18, "2026-11-21T19:28:35.000Z", "mx1.example.com", "courieresmtpd", undefined, ESMTP_AUTH],
  ],
  'rsyslog/udp5514-015.bin': [
    ['3164', 22, "2026-11-21T19:28:36.000Z", "mx1.example.com", "postfix/smtpd", "2345", SASL],
  ],
  'rsyslog/udp5514-018.bin': [
    ['3164', 18, "2026-11-21T19:28:36.000Z", "mx1.example.com", "imapd", undefined, IMAP_BAD_UTF8],
  ],
  'rsyslog/udp5514-021.bin': [
    ['3164', 134, "2026-11-21T19:28:36.000Z", "mx1.example.com", undefined, undefined, `1 ${IMUXSOCK_5424}`],
  ],
  'rsyslog/udp5514-024.bin': [
    ['3164', 13, "2026-11-21T19:28:37.000Z", "mx1.example.com", undefined, undefined, "this message has no tag at all"],
  ],
  'rsyslog/udp5514-027.bin': [
    ['3164', 22, "2026-11-21T19:28:37.000Z", "mx1.example.com", "postfix/smtpd", "77", "with trailing LF"],
  ],
  'rsyslog/udp5514-030.bin': [
    ['3164', 0, "2026-11-21T19:28:37.000Z", "mx1.example.com", undefined, undefined, "pri at all here"],
  ],
  'rsyslog/udp5514-033.bin': [
    ['3164', 0, "2026-11-21T19:28:38.000Z", "mx1.example.com", "kern", undefined, "prival zero"],
  ],
  'rsyslog/udp5514-036.bin': [
    ['3164', 22, "2026-11-21T19:28:38.000Z", "mx1.example.com", "postfix/cleanup", "4321", aaa(65448)],
  ],
  'rsyslog/udp5514-039.bin': [
    ['3164', 22, "2026-11-21T19:28:38.000Z", "mx1.example.com", "feedfile", undefined, FEEDFILE],
  ],
  'rsyslog/udp5516-004.bin': [
    ['3164', 22, "2026-11-21T19:28:34.907Z", "mx1.example.com", "vpopmail", "20410", VPOPMAIL],
  ],
  'rsyslog/udp5516-007.bin': [
    ['3164', 18, "2026-11-21T19:28:35.216Z", "mx1.example.com", "imapd", undefined, IMAP_FOO],
  ],
  'rsyslog/udp5516-010.bin': [
    ['3164', 18, "2026-11-21T19:28:35.520Z", "mx1.example.com", "courierpop3login", undefined, POP3_BAR],
  ],
  'rsyslog/udp5516-013.bin': [
    ['3164', 18, "2026-11-21T19:28:35.827Z", "mx1.example.com", "courieresmtpd", undefined, ESMTP_AUTH],
  ],
  'rsyslog/udp5516-016.bin': [
    ['3164', 22, "2026-11-21T19:28:36.133Z", "mx1.example.com", "postfix/smtpd", "2345", SASL],
  ],
  'rsyslog/udp5516-019.bin': [
    ['3164', 18, "2026-11-21T19:28:36.439Z", "mx1.example.com", "imapd", undefined, IMAP_BAD_UTF8],
  ],
  'rsyslog/udp5516-022.bin': [
    ['3164', 134, "2026-11-21T19:28:36.743Z", "mx1.example.com", undefined, undefined, `1 ${IMUXSOCK_5424}`],
  ],
  'rsyslog/udp5516-025.bin': [
    ['3164', 13, "2026-11-21T19:28:37.170Z", "mx1.example.com", undefined, undefined, "this message has no tag at all"],
  ],
  'rsyslog/udp5516-028.bin': [
    ['3164', 22, "2026-11-21T19:28:37.473Z", "mx1.example.com", "postfix/smtpd", "77", "with trailing LF"],
  ],
  'rsyslog/udp5516-031.bin': [
    ['3164', 0, "2026-11-21T19:28:37.773Z", "mx1.example.com", undefined, undefined, "pri at all here"],
  ],
  'rsyslog/udp5516-034.bin': [
    ['3164', 0, "2026-11-21T19:28:38.073Z", "mx1.example.com", "kern", undefined, "prival zero"],
  ],
  'rsyslog/udp5516-037.bin': [
    ['3164', 22, "2026-11-21T19:28:38.391Z", "mx1.example.com", "postfix/cleanup", "4321", aaa(65431)],
  ],
  'rsyslog/udp5516-040.bin': [
    ['3164', 22, "2026-11-21T19:28:38.897Z", "mx1.example.com", "feedfile", undefined, FEEDFILE],
  ],
  'rsyslog/udp5517-005.bin': [
    ['5424', 22, "2026-11-21T19:28:34.907Z", "mx1.example.com", "vpopmail", "20410", VPOPMAIL],
  ],
  'rsyslog/udp5517-008.bin': [
    ['5424', 18, "2026-11-21T19:28:35.216Z", "mx1.example.com", "imapd", undefined, IMAP_FOO],
  ],
  'rsyslog/udp5517-011.bin': [
    ['5424', 18, "2026-11-21T19:28:35.520Z", "mx1.example.com", "courierpop3login", undefined, POP3_BAR],
  ],
  'rsyslog/udp5517-014.bin': [
    ['5424', 18, "2026-11-21T19:28:35.827Z", "mx1.example.com", "courieresmtpd", undefined, ESMTP_AUTH],
  ],
  'rsyslog/udp5517-017.bin': [
    ['5424', 22, "2026-11-21T19:28:36.133Z", "mx1.example.com", "postfix", "2345", SASL],
  ],
  'rsyslog/udp5517-020.bin': [
    ['5424', 18, "2026-11-21T19:28:36.439Z", "mx1.example.com", "imapd", undefined, IMAP_BAD_UTF8],
  ],
  'rsyslog/udp5517-023.bin': [
    ['5424', 134, "2026-11-21T19:28:36.743Z", "mx1.example.com", "1", undefined, IMUXSOCK_5424],
  ],
  'rsyslog/udp5517-026.bin': [
    ['5424', 13, "2026-11-21T19:28:37.170Z", "mx1.example.com", "this", undefined, "message has no tag at all"],
  ],
  'rsyslog/udp5517-029.bin': [
    ['5424', 22, "2026-11-21T19:28:37.473Z", "mx1.example.com", "postfix", "77", "with trailing LF"],
  ],
  'rsyslog/udp5517-032.bin': [
    ['5424', 0, "2026-11-21T19:28:37.773Z", "mx1.example.com", undefined, undefined, "pri at all here"],
  ],
  'rsyslog/udp5517-035.bin': [
    ['5424', 0, "2026-11-21T19:28:38.073Z", "mx1.example.com", "kern", undefined, "prival zero"],
  ],
  'rsyslog/udp5517-038.bin': [
    ['5424', 22, "2026-11-21T19:28:38.391Z", "mx1.example.com", "postfix", "4321", aaa(65434)],
  ],
  'rsyslog/udp5517-041.bin': [
    ['5424', 22, "2026-11-21T19:28:38.897Z", "mx1.example.com", "feedfile", undefined, FEEDFILE],
  ],
  'syslog-ng/tcp5521-conn000.bin': [
    ['3164', 22, "2026-11-21T19:29:08.000Z", "vm", "vpopmail", "20410", VPOPMAIL],
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_FOO],
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "courieresmtpd", undefined, ESMTP_AUTH],
    ['3164', 22, "2026-11-21T19:29:09.000Z", "vm", "postfix/smtpd", "2345", SASL],
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_BAD_UTF8],
    ['3164', 13, "2026-11-21T19:29:10.000Z", "vm", undefined, undefined, "this message has no tag at all"],
    ['3164', 0, "2026-11-21T19:29:10.000Z", "vm", "kernel", undefined, "kern: prival zero"],
  ],
  'syslog-ng/tcp5522-conn001.bin': [
    ['5424', 22, "2026-11-21T19:29:08.000Z", "vm", "vpopmail", "20410", VPOPMAIL],
    ['5424', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_FOO],
    ['5424', 18, "2026-11-21T19:29:09.000Z", "vm", "courieresmtpd", undefined, ESMTP_AUTH],
    ['5424', 22, "2026-11-21T19:29:09.000Z", "vm", "postfix/smtpd", "2345", SASL],
    ['5424', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_BAD_UTF8],
    ['5424', 13, "2026-11-21T19:29:10.000Z", "vm", "this", undefined, "message has no tag at all"],
    ['5424', 0, "2026-11-21T19:29:10.000Z", "vm", "kernel", undefined, "kern: prival zero"],
  ],
  'syslog-ng/udp5520-004.bin': [
    ['3164', 22, "2026-11-21T19:29:08.000Z", "vm", "vpopmail", "20410", VPOPMAIL],
  ],
  'syslog-ng/udp5520-007.bin': [
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_FOO],
  ],
  'syslog-ng/udp5520-010.bin': [
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "courieresmtpd", undefined, ESMTP_AUTH],
  ],
  'syslog-ng/udp5520-013.bin': [
    ['3164', 22, "2026-11-21T19:29:09.000Z", "vm", "postfix/smtpd", "2345", SASL],
  ],
  'syslog-ng/udp5520-016.bin': [
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_BAD_UTF8],
  ],
  'syslog-ng/udp5520-019.bin': [
    ['3164', 13, "2026-11-21T19:29:10.000Z", "vm", undefined, undefined, "this message has no tag at all"],
  ],
  'syslog-ng/udp5520-022.bin': [
    ['3164', 0, "2026-11-21T19:29:10.000Z", "vm", "kernel", undefined, "kern: prival zero"],
  ],
  'syslog-ng/udp5523-003.bin': [
    ['5424', 22, "2026-11-21T19:29:08.000Z", "vm", "vpopmail", "20410", VPOPMAIL],
  ],
  'syslog-ng/udp5523-006.bin': [
    ['5424', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_FOO],
  ],
  'syslog-ng/udp5523-009.bin': [
    ['5424', 18, "2026-11-21T19:29:09.000Z", "vm", "courieresmtpd", undefined, ESMTP_AUTH],
  ],
  'syslog-ng/udp5523-012.bin': [
    ['5424', 22, "2026-11-21T19:29:09.000Z", "vm", "postfix/smtpd", "2345", SASL],
  ],
  'syslog-ng/udp5523-015.bin': [
    ['5424', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_BAD_UTF8],
  ],
  'syslog-ng/udp5523-018.bin': [
    ['5424', 13, "2026-11-21T19:29:10.000Z", "vm", "this", undefined, "message has no tag at all"],
  ],
  'syslog-ng/udp5523-021.bin': [
    ['5424', 0, "2026-11-21T19:29:10.000Z", "vm", "kernel", undefined, "kern: prival zero"],
  ],
  'syslog-ng/udp5524-002.bin': [
    ['3164', 22, "2026-11-21T19:29:08.000Z", "vm", "vpopmail", "20410", VPOPMAIL],
  ],
  'syslog-ng/udp5524-005.bin': [
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_FOO],
  ],
  'syslog-ng/udp5524-008.bin': [
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "courieresmtpd", undefined, ESMTP_AUTH],
  ],
  'syslog-ng/udp5524-011.bin': [
    ['3164', 22, "2026-11-21T19:29:09.000Z", "vm", "postfix/smtpd", "2345", SASL],
  ],
  'syslog-ng/udp5524-014.bin': [
    ['3164', 18, "2026-11-21T19:29:09.000Z", "vm", "imapd", undefined, IMAP_BAD_UTF8],
  ],
  'syslog-ng/udp5524-017.bin': [
    ['3164', 13, "2026-11-21T19:29:10.000Z", "vm", undefined, undefined, "this message has no tag at all"],
  ],
  'syslog-ng/udp5524-020.bin': [
    ['3164', 0, "2026-11-21T19:29:10.000Z", "vm", "kernel", undefined, "kern: prival zero"],
  ],
};

function row(text: string): Row {
  const m = parseSyslog(text, OPTS);
  return [
    m.format === 'rfc5424' ? '5424' : '3164',
    m.facility === undefined ? undefined : m.facility * 8 + m.severity!,
    Number.isNaN(m.time) ? null : new Date(m.time).toISOString(),
    m.hostname,
    m.app,
    m.pid,
    m.message,
  ];
}

function decodeStream(bytes: Buffer, chunkSizes: () => number, maxFrame = 1 << 20): (Row | string)[] {
  const out: (Row | string)[] = [];
  const decoder = new FrameDecoder(
    { maxFrame, maxLengthDigits: 10 },
    {
      frame: (buf, start, end) => out.push(row(buf.toString('utf8', start, trimFrameEnd(buf, start, end)))),
      drop: (reason) => out.push(`dropped: ${reason}`),
    },
  );
  for (let i = 0; i < bytes.length; ) {
    const n = Math.max(1, chunkSizes());
    // Copies, so no frame can lean on bytes of a chunk already handed over.
    decoder.push(Buffer.from(bytes.subarray(i, i + n)));
    i += n;
  }
  decoder.end();
  return out;
}

/** Small deterministic PRNG, so a failing chunking can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const files = readdirSync(CAPTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(join(CAPTURES, d.name)).map((f) => `${d.name}/${f}`))
  .filter((f) => f.endsWith('.bin'))
  .sort();

test('every capture has its expected fields written down', () => {
  expect(files).toEqual(Object.keys(EXPECTED).sort());
});

describe.each(files.filter((f) => f.includes('/udp')))('UDP datagram %s', (file) => {
  test('parses to the expected fields', () => {
    const bytes = readFileSync(join(CAPTURES, file));
    expect([row(bytes.toString('utf8', 0, trimFrameEnd(bytes, 0, bytes.length)))]).toEqual(EXPECTED[file]);
  });
});

describe.each(files.filter((f) => f.includes('/tcp')))('TCP stream %s', (file) => {
  const bytes = readFileSync(join(CAPTURES, file));

  test('whole', () => {
    expect(decodeStream(bytes, () => bytes.length)).toEqual(EXPECTED[file]);
  });

  test('one byte at a time', () => {
    expect(decodeStream(bytes, () => 1)).toEqual(EXPECTED[file]);
  });

  test.each([1, 2, 3, 4, 5])('random chunks, seed %i', (seed) => {
    const rnd = mulberry32(seed);
    expect(decodeStream(bytes, () => Math.floor(rnd() * 200))).toEqual(EXPECTED[file]);
  });
});

describe('the default maxframe of 64 KiB', () => {
  test('drops the 70 KB message of a stream and keeps every frame after it', () => {
    for (const file of ['rsyslog/tcp5514-conn000.bin', 'rsyslog/tcp5515-conn001.bin', 'rsyslog/tcp5518-conn002.bin']) {
      const bytes = readFileSync(join(CAPTURES, file));
      const expected: (Row | string)[] = EXPECTED[file]!.map((r) => (r[6].startsWith('AAAA') ? 'dropped: too-long' : r));
      expect(decodeStream(bytes, () => 1000, 64 * 1024)).toEqual(expected);
    }
  });

  test('lets the 65,507-byte datagram rsyslog cuts a long UDP message to through', () => {
    const bytes = readFileSync(join(CAPTURES, 'rsyslog/udp5514-036.bin'));
    expect(bytes.length).toBe(65_507);
    expect(bytes.length).toBeLessThanOrEqual(64 * 1024);
  });
});
