import { describe, expect, it } from 'vitest';
import { plainRunConfDir } from '../../src/cli/verb.js';

const dflt = () => '/etc/fleetban';

describe('fleetban run as systemd starts it skips commander', () => {
  it('takes run with or without a configuration directory, before or after the verb', () => {
    expect(plainRunConfDir(['run'], dflt)).toBe('/etc/fleetban');
    expect(plainRunConfDir(['-c', 'conf', 'run'], dflt)).toBe('conf');
    expect(plainRunConfDir(['--conf', 'conf', 'run'], dflt)).toBe('conf');
    expect(plainRunConfDir(['--conf=conf', 'run'], dflt)).toBe('conf');
    expect(plainRunConfDir(['run', '-c', 'conf'], dflt)).toBe('conf');
  });

  it('leaves everything else to commander, which explains usage errors', () => {
    expect(plainRunConfDir([], dflt)).toBeUndefined();
    expect(plainRunConfDir(['run', '--help'], dflt)).toBeUndefined();
    expect(plainRunConfDir(['run', 'extra'], dflt)).toBeUndefined();
    expect(plainRunConfDir(['-c', 'run'], dflt)).toBeUndefined();
    expect(plainRunConfDir(['-c', 'a', '-c', 'b', 'run'], dflt)).toBeUndefined();
    expect(plainRunConfDir(['regex', 'x', 'y'], dflt)).toBeUndefined();
    expect(plainRunConfDir(['run', 'run'], dflt)).toBeUndefined();
  });
});
