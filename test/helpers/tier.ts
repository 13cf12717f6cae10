// Test tiers: `npm run test:unit` (scripts/test-unit.sh) runs the tests marked `// tier: unit` with
// STRATUS_TEST_TIER=unit. The helpers that need root or host daemons call integrationOnly() first, so a
// test marked unit by mistake fails at once with the reason, even when run as root.

export const UNIT_TIER = process.env['STRATUS_TEST_TIER'] === 'unit';

export function integrationOnly(what: string): void {
  if (UNIT_TIER) {
    throw new Error(
      `${what} needs root or host daemons, which the unit tier (npm run test:unit) must not use: ` +
        'remove the `// tier: unit` line from this test or take the daemon out of it',
    );
  }
}
