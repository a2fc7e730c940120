import type { NodeJson } from '../cluster/cluster-node.js';
import { ControlClient, ServiceNotRunning } from '../control/control-client.js';
import { ControlError } from '../control/protocol.js';
import { controlSocketPath } from '../control/socket-path.js';
import { CliError, EXIT_NOT_SO, EXIT_OK, EXIT_USAGE } from './exit-codes.js';

/** `fleetban nodes [--json]`: every node of the cluster, asked of the node running here. */
export async function nodesCommand(o: { confDir: string; json: boolean }): Promise<number> {
  let client: ControlClient;
  try {
    client = await ControlClient.connect(controlSocketPath(o.confDir));
  } catch (err) {
    if (err instanceof ServiceNotRunning) throw new CliError(err.message, EXIT_NOT_SO);
    throw err;
  }
  let nodes: NodeJson[];
  try {
    nodes = await client.request<NodeJson[]>('nodes', {});
  } catch (err) {
    if (err instanceof ControlError) {
      const msg = /does not answer/.test(err.message) ? 'this fleetban is not a cluster node ([state] backend = sqlite)' : err.message;
      throw new CliError(msg, err.kind === 'usage' ? EXIT_USAGE : EXIT_NOT_SO);
    }
    throw new CliError((err as Error).message, EXIT_NOT_SO);
  } finally {
    client.close();
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(nodes, null, 2) + '\n');
    return EXIT_OK;
  }
  const rows = [['NODE', 'ROLE', 'LAST SEEN', 'FORWARDED', 'BACKLOG', 'LAG', 'STATE']];
  for (const n of nodes) {
    rows.push([
      n.name,
      n.role,
      `${n.age}s ago`,
      String(n.failuresForwarded),
      String(n.backlog),
      `${n.lagMs} ms`,
      !n.alive ? 'gone' : n.degraded ? 'degraded' : 'ok',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n');
  return EXIT_OK;
}
