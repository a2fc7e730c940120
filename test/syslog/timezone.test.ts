import { describe, expect, test } from 'vitest';
import { Timezone } from '../../src/syslog/timezone.js';

describe('Timezone: how a stamp without offset is read', () => {
  test('UTC and fixed offsets', () => {
    expect(new Date(Timezone.parse('UTC').toEpoch(2026, 10, 21, 19, 28, 18, 0)).toISOString()).toBe('2026-11-21T19:28:18.000Z');
    expect(new Date(Timezone.parse('+02:00').toEpoch(2026, 10, 21, 19, 28, 18, 0)).toISOString()).toBe('2026-11-21T17:28:18.000Z');
    expect(new Date(Timezone.parse('-0530').toEpoch(2026, 10, 21, 19, 28, 18, 0)).toISOString()).toBe('2026-11-22T00:58:18.000Z');
    expect(new Date(Timezone.parse('UTC+1').toEpoch(2026, 10, 21, 19, 0, 0, 0)).toISOString()).toBe('2026-11-21T18:00:00.000Z');
  });

  test('a zone name follows daylight saving time', () => {
    const berlin = Timezone.parse('Europe/Berlin');
    expect(new Date(berlin.toEpoch(2026, 0, 15, 12, 0, 0, 0)).toISOString()).toBe('2026-01-15T11:00:00.000Z');
    expect(new Date(berlin.toEpoch(2026, 6, 15, 12, 0, 0, 0)).toISOString()).toBe('2026-07-15T10:00:00.000Z');
    const ny = Timezone.parse('America/New_York');
    expect(new Date(ny.toEpoch(2026, 10, 21, 19, 28, 18, 0)).toISOString()).toBe('2026-11-22T00:28:18.000Z');
  });

  test('local is the central host\'s zone', () => {
    const t = Timezone.parse('local').toEpoch(2026, 10, 21, 19, 28, 18, 0);
    expect(t).toBe(new Date(2026, 10, 21, 19, 28, 18).getTime());
  });

  test('an unknown name is an error that says what is accepted', () => {
    expect(() => Timezone.parse('Mars/Olympus')).toThrow(/unknown time zone "Mars\/Olympus": use local, UTC, an offset/);
    expect(() => Timezone.parse('+25:00')).toThrow(/out of range/);
  });
});
