// Tenant isolation of the live schema. Every table with a tenant_id column
// is found in the catalog, so a table added by a later migration is covered
// without editing this file. Connected as the application role
// (EXPRESSO_DATABASE_URL), the test proves for each table that tenant B
// cannot see, insert, move into, update or delete tenant A's rows, and that
// nothing is visible with no tenant bound. Rows a table lacks are created as
// the owner (EXPRESSO_DATABASE_OWNER_URL) and removed again at the end.
//
// Tenant A is the tenant of EXPRESSO_ALICE_EMAIL, tenant B that of
// EXPRESSO_CAROL_EMAIL. Needs migrations applied and the accounts seeded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';

const appUrl = process.env.EXPRESSO_DATABASE_URL;
const ownerUrl = process.env.EXPRESSO_DATABASE_OWNER_URL;
const aliceEmail = process.env.EXPRESSO_ALICE_EMAIL ?? 'alice@demo.expresso.test';
const carolEmail = process.env.EXPRESSO_CAROL_EMAIL ?? 'carol@acme.expresso.test';

// Parent rows generated for a missing row, at most this deep.
const MAX_PARENT_DEPTH = 4;
// Maximum time of one test or hook.
const TEST_TIMEOUT_MS = 120_000;

const tenantTablesSql = `
  SELECT c.oid::regclass::text AS name, c.oid::int AS oid, n.nspname AS schema, c.relname AS table,
         c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
         pg_get_userbyid(c.relowner) AS owner
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
   WHERE c.relkind IN ('r', 'p')
     AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
   ORDER BY 1`;

let app;
let owner;
let tenantA;
let tenantB;
let tables = [];
// Rows this test inserted, in insertion order: { table, tenant, key }.
const createdRows = [];

function quoteIdent(name) {
  return `"${name.replaceAll('"', '""')}"`;
}

async function connect(url, name) {
  assert.ok(url, `${name} is not set; source the stack.env of the local stack before running the tests`);
  const client = new pg.Client({ connectionString: url, application_name: 'expresso-e2e-rls' });
  await client.connect();
  return client;
}

// Runs fn inside a transaction with app.tenant_id bound; rolls back unless commit is set.
async function withTenant(client, tenant, fn, { commit = false } = {}) {
  await client.query('BEGIN');
  try {
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant]);
    const result = await fn();
    await client.query(commit ? 'COMMIT' : 'ROLLBACK');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

// Returns the error a statement raised, or fails when it succeeded.
async function expectError(promise, description) {
  try {
    const result = await promise;
    assert.fail(`${description} succeeded (${result.command} ${result.rowCount}) but must be rejected`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error;
  }
}

async function hasPrivilege(table, privilege) {
  const { rows } = await app.query('SELECT has_table_privilege(current_user, $1, $2) AS granted', [
    table.name,
    privilege,
  ]);
  return rows[0].granted;
}

async function columnsOf(table) {
  const { rows } = await owner.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname, t.typcategory,
            a.atttypid::int AS type_oid, a.attnotnull AS not_null, a.atthasdef AS has_default,
            a.attidentity AS identity, a.attgenerated AS generated
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table.oid],
  );
  return rows;
}

async function foreignKeysOf(table) {
  const { rows } = await owner.query(
    `SELECT con.confrelid::regclass::text AS ref_name, con.confrelid::int AS ref_oid,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, i)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.i) AS columns,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, i)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.i) AS ref_columns,
            EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.confrelid
                      AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS ref_has_tenant
       FROM pg_constraint con
      WHERE con.conrelid = $1 AND con.contype = 'f'`,
    [table.oid],
  );
  return rows;
}

async function primaryKeyOf(oid) {
  const { rows } = await owner.query(
    `SELECT array(SELECT a.attname::text FROM unnest(i.indkey) k(num)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num) AS columns
       FROM pg_index i WHERE i.indrelid = $1 AND i.indisprimary`,
    [oid],
  );
  return rows.length ? rows[0].columns : [];
}

async function sampleValue(column) {
  const random = crypto.randomInt(1, 30000);
  if (column.typname === 'uuid') return crypto.randomUUID();
  if (column.typname === 'bool') return false;
  if (column.typname === 'json' || column.typname === 'jsonb') return '{}';
  if (column.typname === 'inet' || column.typname === 'cidr') return '127.0.0.1';
  if (column.typname === 'bytea') return '\\x00';
  switch (column.typcategory) {
    case 'S':
      return `rls-test-${crypto.randomBytes(6).toString('hex')}`;
    case 'N':
      return String(random);
    case 'D':
      return 'now';
    case 'T':
      return '1 day';
    case 'A':
      return '{}';
    case 'E': {
      const { rows } = await owner.query(
        'SELECT enumlabel FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder LIMIT 1',
        [column.type_oid],
      );
      return rows[0].enumlabel;
    }
    default:
      throw new Error(`no sample value for column ${column.name} of type ${column.type}`);
  }
}

async function countForTenant(client, tableName, tenant) {
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${tableName} WHERE tenant_id = $1`, [tenant]);
  return rows[0].n;
}

// Picks values for the columns of one foreign key from a row of the tenant,
// generating a parent row first when the referenced table has none.
async function parentValues(foreignKey, tenant, depth) {
  const select = async () => {
    const where = foreignKey.ref_has_tenant ? 'WHERE tenant_id = $1' : '';
    const { rows } = await owner.query(
      `SELECT ${foreignKey.ref_columns.map(quoteIdent).join(', ')} FROM ${foreignKey.ref_name} ${where} LIMIT 1`,
      foreignKey.ref_has_tenant ? [tenant] : [],
    );
    return rows[0];
  };

  let row = null;
  if (foreignKey.ref_has_tenant) {
    // A fresh parent keeps the generated row out of the seeded mailboxes
    // that other tests read; fall back to an existing parent.
    const createdBefore = createdRows.length;
    await owner.query('SAVEPOINT fresh_parent');
    try {
      const ref = tables.find((candidate) => candidate.oid === foreignKey.ref_oid);
      const key = await insertSampleRow(ref, tenant, depth + 1);
      const { rows } = await owner.query(
        `SELECT ${foreignKey.ref_columns.map(quoteIdent).join(', ')} FROM ${foreignKey.ref_name}
          WHERE ${key.columns.map((c, i) => `${quoteIdent(c)} = $${i + 1}`).join(' AND ')}`,
        key.values,
      );
      row = rows[0];
      await owner.query('RELEASE SAVEPOINT fresh_parent');
    } catch {
      await owner.query('ROLLBACK TO SAVEPOINT fresh_parent');
      createdRows.length = createdBefore;
    }
  }
  row ??= await select();
  if (!row) throw new Error(`${foreignKey.ref_name} has no row for tenant ${tenant} to reference`);
  return foreignKey.columns.map((column, i) => [column, row[foreignKey.ref_columns[i]]]);
}

// Inserts one generated row as the owner inside the current transaction and
// returns its primary key. Throws when a column cannot be filled.
async function insertSampleRow(table, tenant, depth = 0) {
  if (!table) throw new Error('referenced table is not a tenant table');
  if (depth > MAX_PARENT_DEPTH) throw new Error(`parent rows nest deeper than ${MAX_PARENT_DEPTH}`);

  const columns = await columnsOf(table);
  const values = new Map([['tenant_id', tenant]]);
  for (const foreignKey of await foreignKeysOf(table)) {
    const needed = foreignKey.columns.some((name) => {
      const column = columns.find((c) => c.name === name);
      return column.not_null && !column.has_default && !values.has(name);
    });
    if (!needed) continue;
    for (const [column, value] of await parentValues(foreignKey, tenant, depth)) {
      if (!values.has(column)) values.set(column, value);
    }
  }
  for (const column of columns) {
    if (values.has(column.name) || !column.not_null || column.has_default) continue;
    if (column.identity || column.generated) continue;
    values.set(column.name, await sampleValue(column));
  }

  const names = [...values.keys()];
  const casts = names.map((name, i) => `$${i + 1}::${columns.find((c) => c.name === name).type}`);
  const primaryKey = await primaryKeyOf(table.oid);
  const returning = primaryKey.length ? primaryKey.map(quoteIdent).join(', ') : 'ctid';
  const { rows } = await owner.query(
    `INSERT INTO ${table.name} (${names.map(quoteIdent).join(', ')}) VALUES (${casts.join(', ')})
     RETURNING ${returning}`,
    [...values.values()],
  );
  const keyColumns = primaryKey.length ? primaryKey : ['ctid'];
  const key = { columns: keyColumns, values: keyColumns.map((c) => rows[0][c]) };
  createdRows.push({ table: table.name, tenant, key });
  return key;
}

// Makes sure the tenant has at least one row in every tenant table.
async function ensureRows(tenant) {
  for (const table of tables) {
    await withTenant(
      owner,
      tenant,
      async () => {
        if ((await countForTenant(owner, table.name, tenant)) > 0) return;
        try {
          await insertSampleRow(table, tenant);
        } catch (error) {
          throw new Error(
            `table ${table.name} has no row for tenant ${tenant} and this test cannot generate one ` +
              `(${error.message}); make expresso-migrate seed create one`,
          );
        }
      },
      { commit: true },
    );
  }
}

async function tenantForLogin(email) {
  const { rows } = await app.query('SELECT tenant_id, user_id FROM ex_tenant_for_login($1)', [email]);
  assert.equal(rows.length, 1, `no enabled user ${email}; seed the accounts first`);
  return rows[0];
}

before(async () => {
  app = await connect(appUrl, 'EXPRESSO_DATABASE_URL');
  owner = await connect(ownerUrl, 'EXPRESSO_DATABASE_OWNER_URL');
  tenantA = (await tenantForLogin(aliceEmail)).tenant_id;
  tenantB = (await tenantForLogin(carolEmail)).tenant_id;
  assert.notEqual(tenantA, tenantB, `${aliceEmail} and ${carolEmail} must belong to different tenants`);

  tables = (await app.query(tenantTablesSql)).rows;
  await ensureRows(tenantA);
  await ensureRows(tenantB);
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  for (const created of createdRows.reverse()) {
    const where = created.key.columns.map((c, i) => `${quoteIdent(c)} = $${i + 1}`).join(' AND ');
    const remove = () => owner.query(`DELETE FROM ${created.table} WHERE ${where}`, created.key.values);
    await withTenant(owner, created.tenant, remove, { commit: true });
  }
  await app?.end();
  await owner?.end();
}, { timeout: TEST_TIMEOUT_MS });

test('catalog lists the core tenant tables', { timeout: TEST_TIMEOUT_MS }, () => {
  const names = tables.map((table) => table.table);
  for (const expected of ['domains', 'users', 'app_passwords', 'audit_log', 'mailboxes', 'messages', 'mailbox_stats']) {
    assert.ok(names.includes(expected), `tenant table ${expected} not found; found ${names.join(', ')}`);
  }
});

test('application role has no special rights', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { rows } = await app.query(
    `SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
            (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) AS owned_relations,
            has_schema_privilege(r.oid, 'public', 'CREATE') AS can_create_in_public
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const role = rows[0];
  assert.equal(role.rolsuper, false, `${role.rolname} must not be superuser`);
  assert.equal(role.rolbypassrls, false, `${role.rolname} must not have BYPASSRLS`);
  assert.equal(role.rolcreaterole, false, `${role.rolname} must not have CREATEROLE`);
  assert.equal(role.owned_relations, 0, `${role.rolname} owns ${role.owned_relations} relations`);
  assert.equal(role.can_create_in_public, false, `${role.rolname} can create objects in schema public`);

  for (const tableOwner of new Set(tables.map((table) => table.owner))) {
    const member = await app.query("SELECT pg_has_role(current_user, $1, 'MEMBER') AS member", [tableOwner]);
    assert.equal(member.rows[0].member, false, `${role.rolname} is a member of table owner ${tableOwner}`);
  }
});

test('row-level security enabled and forced', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  for (const table of tables) {
    await t.test(table.name, async () => {
      assert.equal(table.rls, true, `${table.name}: row-level security is not enabled`);
      assert.equal(table.forced, true, `${table.name}: row-level security is not forced`);

      const { rows: policies } = await app.query(
        `SELECT policyname, cmd, qual, with_check FROM pg_policies p
          WHERE schemaname = $1 AND tablename = $2
            AND EXISTS (SELECT 1 FROM unnest(p.roles) r
                         WHERE r = 'public' OR pg_has_role(current_user, r, 'MEMBER'))`,
        [table.schema, table.table],
      );
      assert.ok(policies.length > 0, `${table.name}: no policy applies to the application role`);
      for (const policy of policies) {
        for (const expression of [policy.qual, policy.with_check]) {
          if (expression === null) continue;
          assert.match(
            expression,
            /current_setting\('app\.tenant_id'/,
            `${table.name}: policy ${policy.policyname} does not compare with app.tenant_id: ${expression}`,
          );
        }
      }
    });
  }
});

test("other tenant cannot see a tenant's rows", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  for (const table of tables) {
    await t.test(table.name, async () => {
      const ownRows = await withTenant(owner, tenantA, () => countForTenant(owner, table.name, tenantA));
      assert.ok(ownRows > 0, `${table.name}: tenant A has no row to test with`);

      if (!(await hasPrivilege(table, 'SELECT'))) {
        const error = await expectError(
          withTenant(app, tenantB, () => app.query(`SELECT count(*) FROM ${table.name}`)),
          `SELECT on ${table.name} without the SELECT privilege`,
        );
        assert.equal(error.code, '42501');
        return;
      }
      const visibleToA = await withTenant(app, tenantA, () => countForTenant(app, table.name, tenantA));
      assert.equal(visibleToA, ownRows, `${table.name}: tenant A sees ${visibleToA} of its ${ownRows} rows`);

      const seenByB = await withTenant(app, tenantB, () => countForTenant(app, table.name, tenantA));
      assert.equal(seenByB, 0, `${table.name}: tenant B sees ${seenByB} rows of tenant A`);
      const foreign = await withTenant(app, tenantB, () =>
        app.query(`SELECT count(*)::int AS n FROM ${table.name} WHERE tenant_id IS DISTINCT FROM $1`, [tenantB]),
      );
      assert.equal(foreign.rows[0].n, 0, `${table.name}: tenant B sees rows of other tenants`);
    });
  }
});

test("other tenant cannot insert with a tenant's id", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  for (const table of tables) {
    await t.test(table.name, async () => {
      const sample = await withTenant(owner, tenantA, () =>
        owner.query(`SELECT to_jsonb(x) AS row FROM ${table.name} x WHERE tenant_id = $1 LIMIT 1`, [tenantA]),
      );
      const columns = (await columnsOf(table)).filter((c) => c.identity !== 'a' && !c.generated);
      const list = columns.map((c) => quoteIdent(c.name)).join(', ');
      const error = await expectError(
        withTenant(app, tenantB, () =>
          app.query(
            `INSERT INTO ${table.name} (${list}) SELECT ${list} FROM jsonb_populate_record(NULL::${table.name}, $1)`,
            [JSON.stringify(sample.rows[0].row)],
          ),
        ),
        `INSERT into ${table.name} of a tenant A row while tenant B is bound`,
      );
      assert.equal(error.code, '42501', `${table.name}: expected SQLSTATE 42501, got ${error.code}: ${error.message}`);
      if (await hasPrivilege(table, 'INSERT')) {
        assert.match(error.message, /row-level security/, `${table.name}: ${error.message}`);
      }
    });
  }
});

test('tenant cannot move its row to another tenant', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  for (const table of tables) {
    await t.test(table.name, async () => {
      const error = await expectError(
        withTenant(app, tenantB, () =>
          app.query(
            `UPDATE ${table.name} SET tenant_id = $1
              WHERE ctid = (SELECT ctid FROM ${table.name} WHERE tenant_id = $2 LIMIT 1)`,
            [tenantA, tenantB],
          ),
        ),
        `UPDATE of ${table.name} setting tenant_id to tenant A while tenant B is bound`,
      );
      assert.equal(error.code, '42501', `${table.name}: expected SQLSTATE 42501, got ${error.code}: ${error.message}`);
    });
  }
});

test("other tenant cannot update or delete a tenant's rows", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  for (const table of tables) {
    await t.test(table.name, async () => {
      const before = await withTenant(owner, tenantA, () => countForTenant(owner, table.name, tenantA));
      const statements = [
        ['UPDATE', `UPDATE ${table.name} SET tenant_id = tenant_id WHERE tenant_id = $1`],
        ['DELETE', `DELETE FROM ${table.name} WHERE tenant_id = $1`],
      ];
      for (const [privilege, sql] of statements) {
        const granted = await hasPrivilege(table, privilege);
        // Rolled back either way, so a broken policy cannot destroy data.
        const attempt = withTenant(app, tenantB, () => app.query(sql, [tenantA]));
        if (granted) {
          const result = await attempt;
          assert.equal(
            result.rowCount,
            0,
            `${table.name}: tenant B's ${privilege} touched ${result.rowCount} rows of tenant A`,
          );
        } else {
          const error = await expectError(attempt, `${privilege} on ${table.name} without the privilege`);
          assert.equal(error.code, '42501');
        }
      }
      const after = await withTenant(owner, tenantA, () => countForTenant(owner, table.name, tenantA));
      assert.equal(after, before, `${table.name}: tenant A's row count changed`);
    });
  }
});

test('no tenant bound sees nothing', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  // A fresh session has no app.tenant_id at all. In a session whose
  // transaction-local setting has ended, it reads '' instead, and the
  // policies must treat that as no tenant rather than raise an error.
  const fresh = await connect(appUrl, 'EXPRESSO_DATABASE_URL');
  const reused = await connect(appUrl, 'EXPRESSO_DATABASE_URL');
  try {
    await withTenant(reused, tenantA, () => reused.query('SELECT 1'), { commit: true });
    const leftover = await reused.query("SELECT current_setting('app.tenant_id', true) AS value");
    assert.equal(leftover.rows[0].value, '');

    for (const table of tables) {
      await t.test(table.name, async () => {
        if (!(await hasPrivilege(table, 'SELECT'))) return;
        for (const [label, client] of [['fresh session', fresh], ['after a bound transaction', reused]]) {
          const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${table.name}`);
          assert.equal(rows[0].n, 0, `${table.name}: ${label} sees ${rows[0].n} rows with no tenant bound`);
        }
      });
    }
  } finally {
    await fresh.end();
    await reused.end();
  }
});

test('audit_log is append-only for the application role', { timeout: TEST_TIMEOUT_MS }, async () => {
  const table = tables.find((candidate) => candidate.table === 'audit_log');
  assert.ok(table, 'audit_log is not a tenant table');
  for (const privilege of ['UPDATE', 'DELETE', 'TRUNCATE']) {
    assert.equal(await hasPrivilege(table, privilege), false, `application role has ${privilege} on audit_log`);
  }
  assert.equal(await hasPrivilege(table, 'INSERT'), true, 'application role cannot INSERT into audit_log');

  for (const sql of ['UPDATE audit_log SET action = action', 'DELETE FROM audit_log', 'TRUNCATE audit_log']) {
    const error = await expectError(withTenant(app, tenantA, () => app.query(sql)), sql);
    assert.equal(error.code, '42501', `${sql}: expected SQLSTATE 42501, got ${error.code}: ${error.message}`);
  }

  const inserted = await withTenant(app, tenantA, () =>
    app.query(
      `INSERT INTO audit_log (tenant_id, actor, action, resource, address, request_id, detail)
       VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::jsonb)`,
      [tenantA, 'expresso-e2e', 'rls.test', 'audit_log', '127.0.0.1', crypto.randomUUID(), '{}'],
    ),
  );
  assert.equal(inserted.rowCount, 1);
});

test('tenant lookups work without a bound tenant', { timeout: TEST_TIMEOUT_MS }, async () => {
  const domain = aliceEmail.split('@')[1];
  const byDomain = await app.query('SELECT ex_tenant_for_domain($1) AS tenant', [`${domain.toUpperCase()}.`]);
  assert.equal(byDomain.rows[0].tenant, tenantA);

  const unknown = await app.query('SELECT ex_tenant_for_domain($1) AS tenant', ['unknown.invalid']);
  assert.equal(unknown.rows[0].tenant, null);

  const byLogin = await app.query('SELECT tenant_id, user_id FROM ex_tenant_for_login($1)', [aliceEmail.toUpperCase()]);
  assert.equal(byLogin.rows.length, 1);
  assert.equal(byLogin.rows[0].tenant_id, tenantA);

  const nobody = await app.query('SELECT tenant_id FROM ex_tenant_for_login($1)', [`nobody@${domain}`]);
  assert.equal(nobody.rows.length, 0);
});
