// Mail aliases set up by the tests themselves: there is no administration
// API for them yet, so the rows are written as the database owner with the
// tenant bound, as row-level security requires.
import pg from 'pg';

import { requireEnv } from './stack.mjs';
import { findAccount, tenantQuery } from './tenant_db.mjs';

// Runs SQL as the database owner in the tenant of the user EMAIL, with $1 the tenant id, $2 the user id, then PARAMS.
async function asUser(email, sql, params) {
  const owner = new pg.Pool({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL'), max: 1 });
  try {
    const account = await findAccount(owner, email);
    await tenantQuery(owner, account.tenantId, sql, [account.tenantId, account.userId, ...params]);
  } finally {
    await owner.end();
  }
}

// Gives the user EMAIL the alias ADDRESS (lowercase).
export function addAlias(email, address) {
  return asUser(email, 'INSERT INTO mail_aliases (tenant_id, user_id, address) VALUES ($1, $2, $3)', [address]);
}

// Removes the alias ADDRESS of the user EMAIL.
export function removeAlias(email, address) {
  return asUser(email, 'DELETE FROM mail_aliases WHERE tenant_id = $1 AND user_id = $2 AND address = $3', [address]);
}
