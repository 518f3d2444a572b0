// PostgreSQL helpers of the end-to-end tests that read and change the rows
// of one tenant. They run as the owner role, which row-level security binds
// too, so each query sets app.tenant_id in its own transaction.
import assert from 'node:assert/strict';

// Runs SQL with PARAMS in one transaction bound to TENANT_ID and returns the rows.
// The transaction is rolled back when the query fails.
export async function tenantQuery(pool, tenantId, sql, params = []) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const result = await client.query(sql, params);
    await client.query('COMMIT');
    return result.rows;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

// Looks up the tenant and user ids of EMAIL. The test fails when no user has it.
export async function findAccount(pool, email) {
  const { rows } = await pool.query('SELECT tenant_id, user_id FROM ex_tenant_for_login($1)', [email]);
  assert.equal(rows.length, 1, `${email} is not in the users table`);
  return { email, tenantId: rows[0].tenant_id, userId: rows[0].user_id };
}
