// The authorization matrix (authz-matrix.ts) against a real controller: every route × every kind of
// caller gets the status the table says. A route of the OpenAPI document without a row fails here.
import t from 'tap';
import { runMatrix } from '../../helpers/fuzz/authz.ts';
import { type FuzzWorld, startFuzzWorld } from '../../helpers/fuzz/world.ts';
import { MATRIX } from './authz-matrix.ts';

let w: FuzzWorld;
t.before(async () => {
  w = await startFuzzWorld();
});
t.teardown(() => w.cleanup());

t.test('every operation of the OpenAPI document has exactly one row', async (t) => {
  const doc = (await (await fetch(`${w.c.url}/v1/openapi.json`)).json()) as { paths: Record<string, object> };
  const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`),
  );
  const rows = MATRIX.map((r) => r.op);
  t.same(
    ops.filter((o) => !rows.includes(o)),
    [],
    'no route without a row',
  );
  t.same(
    rows.filter((r, i) => rows.indexOf(r) !== i),
    [],
    'no route with two rows',
  );
  t.ok(ops.length >= 50, `${ops.length} operations`);
});

t.test('every cell of the matrix: the expected status', async (t) => {
  const r = await runMatrix(w, MATRIX);
  t.equal(r.cells, MATRIX.length * 5);
  t.same(r.mismatches, [], 'each caller gets the status the table says');
});
