// Set-up shared by the tests of the outbound queue: the stack's settings they read, the test CA,
// a database-owner pool with Alice's account, and the aiosmtpd server that plays a remote domain.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

import { requireBuilt, requireEnvs, startPythonHelper } from './stack.mjs';
import { findAccount } from './tenant_db.mjs';

// Returns { env, ca, owner, alice } once BINARY is built; the caller ends owner.
export async function openOutboundContext(binary) {
  const env = requireEnvs(['EXPRESSO_DATABASE_OWNER_URL', 'EXPRESSO_TLS_CA', 'EXPRESSO_STATE_DIR',
    'EXPRESSO_ALICE_EMAIL', 'EXPRESSO_ALICE_APP_PASSWORD']);
  requireBuilt(binary);
  const owner = new pg.Pool({ connectionString: env.EXPRESSO_DATABASE_OWNER_URL, max: 4 });
  const alice = await findAccount(owner, env.EXPRESSO_ALICE_EMAIL);
  return { env, ca: readFileSync(env.EXPRESSO_TLS_CA), owner, alice };
}

// Starts smtp_remote.py on PORT with the stack's TLS certificate from STATE_DIR.
export function startSmtpRemote(port, stateDir) {
  return startPythonHelper(path.join(import.meta.dirname, '..', 'smtp_remote.py'), [String(port),
    path.join(stateDir, 'tls', 'server.pem'), path.join(stateDir, 'tls', 'server.key')]);
}
