// IMAP4rev2 (RFC 9051) of expresso-mail after ENABLE IMAP4rev2, next to
// an IMAP4rev1 session on the same mailbox, driven by Python's imaplib
// over implicit TLS: the scenarios are in imap_thread_scenarios.py.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// /usr/bin/python3 and pg (package.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';

import pg from 'pg';

import { requireEnv } from './lib/stack.mjs';

const TEST_TIMEOUT_MS = 180_000;
const runId = crypto.randomBytes(4).toString('hex');

function runScenario(name) {
  for (const variable of ['EXPRESSO_IMAPS_PORT', 'EXPRESSO_TLS_CA', 'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD']) {
    requireEnv(variable);
  }
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [path.join(import.meta.dirname, 'imap_thread_scenarios.py'), name],
      { timeout: 120_000, env: { ...process.env, IMAP_RUN_ID: runId } },
      (error, stdout, stderr) => resolve({ code: error?.code ?? 0, output: `${stdout}${stderr}` }));
  });
}

for (const scenario of ['rev2']) {
  test(`imaplib: ${scenario}`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const { code, output } = await runScenario(scenario);
    assert.equal(code, 0, output);
    assert.match(output, /^ok$/m);
  });
}

// The mail API and Sieve create "a/b" without "a"; LIST must still lead a client to it.
test('imaplib: nonexistent parent', { timeout: TEST_TIMEOUT_MS }, async () => {
  const owner = new pg.Pool({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL'), max: 1 });
  try {
    const { rows } = await owner.query('SELECT tenant_id, user_id FROM ex_tenant_for_login($1)',
      [requireEnv('EXPRESSO_ALICE_EMAIL')]);
    assert.equal(rows.length, 1);
    const client = await owner.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [rows[0].tenant_id]);
      await client.query('INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, $3)',
        [rows[0].tenant_id, rows[0].user_id, `Orfa-${runId}/Filha`]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  } finally {
    await owner.end();
  }
  const { code, output } = await runScenario('nonexistent_parent');
  assert.equal(code, 0, output);
  assert.match(output, /^ok$/m);
});
