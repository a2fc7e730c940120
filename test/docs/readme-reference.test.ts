import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readmeReference, renderReference } from '../../src/cli/reference.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('the README reference', () => {
  it('is what the code and the shipped files say (run `npm run docs` after changing them)', () => {
    expect(readmeReference(ROOT)).toBe(renderReference(ROOT));
  });

  it('lists every verb of the binary', () => {
    const ref = renderReference(ROOT);
    for (const verb of ['run', 'regex', 'check-config', 'status', 'banned', 'hosts', 'ban', 'unban', 'reload']) {
      expect(ref).toContain(`\`fleetban ${verb}`);
    }
  });
});
