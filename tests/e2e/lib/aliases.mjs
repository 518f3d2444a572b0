// Mail aliases set up by the tests themselves: there is no administration
// API for them yet, so the rows are written as the database owner with the
// tenant bound, as row-level security requires.
import pg from 'pg';

import { requireEnv } from './stack.mjs';

// Runs SQL as the database owner in the tenant of the user EMAIL, with $1 the tenant id, $2 the user id, then PARAMS.
async function asUser(email, sql, params) {
  const owner = new pg.Client({ connectionString: requireEnv('EXPRESSO_DATABASE_OWNER_URL') });
  await owner.connect();
  try {
    const { rows } = await owner.query('SELECT tenant_id, user_id FROM ex_tenant_for_login($1)', [email]);
    await owner.query('BEGIN');
    await owner.query("SELECT set_config('app.tenant_id', $1, true)", [rows[0].tenant_id]);
    await owner.query(sql, [rows[0].tenant_id, rows[0].user_id, ...params]);
    await owner.query('COMMIT');
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
