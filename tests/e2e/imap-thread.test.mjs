// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256) and MULTIAPPEND
// (RFC 3502) of expresso-mail, driven by Python's imaplib over implicit
// TLS: the scenarios are in imap_thread_scenarios.py.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env
// and /usr/bin/python3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';

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

for (const scenario of ['thread', 'multiappend']) {
  test(`imaplib: ${scenario}`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const { code, output } = await runScenario(scenario);
    assert.equal(code, 0, output);
    assert.match(output, /^ok$/m);
  });
}
