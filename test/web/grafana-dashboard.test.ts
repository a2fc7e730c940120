import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeConfDir, ROOT, ServiceProcess, testConfDir } from '../helpers/service-process.js';

// Ports of this suite: 15645-15646.
const SYSLOG = 15645;
const METRICS = 15646;

interface Panel {
  type: string;
  title: string;
  id: number;
  targets?: { expr: string }[];
  datasource?: { uid: string };
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'packaging/grafana/fleetban.json'), 'utf8')) as { panels: Panel[]; templating: { list: { name: string }[] } };
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** The metric names a PromQL expression reads. */
function metricsOf(expr: string): string[] {
  return [...expr.matchAll(/\bfleetban_[a-z0-9_]+/g)].map((m) => m[0]);
}

describe('packaging/grafana/fleetban.json', () => {
  let conf: string;
  let svc: ServiceProcess;
  let scrape: string;

  beforeAll(async () => {
    conf = testConfDir({ udp: SYSLOG, metrics: METRICS });
    svc = await ServiceProcess.start(conf);
    scrape = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    removeConfDir(conf);
  });

  it('has a query in every panel, each on the datasource variable', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(['datasource', 'instance']));
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
    }
    expect(queries.length).toBeGreaterThan(20);
  });

  it('names only metrics the running service exports', () => {
    const exported = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    expect(exported.size).toBeGreaterThan(10);
    for (const q of queries) {
      const names = metricsOf(q.expr);
      expect(names.length, `${q.panel}: ${q.expr}`).toBeGreaterThan(0);
      for (const n of names) {
        // A histogram's _bucket, _sum and _count series are typed under the family's name.
        const family = n.replace(/_(bucket|sum|count)$/, '');
        expect(exported.has(n) || (family !== n && exported.has(family)), `${q.panel}: ${n} is not in /metrics`).toBe(true);
      }
    }
  });

  it('shows the panels the status page has, where metrics can', () => {
    const titles = dashboard.panels.map((p) => p.title).join('\n');
    for (const t of ['Failures per minute, by jail', 'Active bans', 'Messages per minute, by sender', 'Pending operations, by host', 'Dropped per minute, by listener and reason']) {
      expect(titles).toContain(t);
    }
  });
});
