// expresso-migrate against scratch databases: apply is idempotent, applies
// new files alone, rolls back a failing file, rejects a tenant table without
// row-level security, rejects edited, removed and out-of-order migrations,
// keeps two concurrent runners apart, and seeds accounts idempotently. The
// mailbox_stats triggers are checked there too, as the application role
// (EXPRESSO_DATABASE_URL) against the scratch database.
//
// The test creates and drops databases named expresso_migrate_test_<hex>
// as the owner role (EXPRESSO_DATABASE_OWNER_URL, which needs CREATEDB) and
// runs $EXPRESSO_BUILD_DIR/services/migrate/expresso-migrate (default build
// directory: <repo>/build) on a copy of migrations/ in a temporary folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildDir = process.env.EXPRESSO_BUILD_DIR ?? path.join(repo, 'build');
const binary = path.join(buildDir, 'services', 'migrate', 'expresso-migrate');
const ownerUrl = process.env.EXPRESSO_DATABASE_OWNER_URL;
const appUrl = process.env.EXPRESSO_DATABASE_URL;

// Maximum time of one expresso-migrate run before the test kills it.
const RUN_TIMEOUT_MS = 120_000;
// Maximum time of one test or hook, enough for several runs of the binary.
const TEST_TIMEOUT_MS = 300_000;

const scratchDatabases = [];
let admin;
let workDir;
let migrationsDir;
let databaseUrl;
let sourceFiles;
// Tenant and user ids written by the seed test, reused by the stats test.
let seeded;

function sha256(text) {
  return crypto.createHash('sha256').update(text).digest('hex');
}

// Creates an empty database owned by the owner role and returns its URL.
async function createScratchDatabase() {
  const name = `expresso_migrate_test_${crypto.randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  scratchDatabases.push(name);
  const url = new URL(ownerUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

// Runs expresso-migrate; resolves with its exit code, output and log events.
function runMigrate(args, { url = databaseUrl, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, EXPRESSO_DATABASE_OWNER_URL: url, ...env };
    for (const [key, value] of Object.entries(childEnv)) {
      if (value === undefined) delete childEnv[key];
    }
    const child = spawn(binary, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${binary}: ${error.message}; build it or set EXPRESSO_BUILD_DIR`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const events = stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line));
      resolve({ code, signal, stdout, stderr, events });
    });
  });
}

function eventsNamed(run, event) {
  return run.events.filter((entry) => entry.event === event);
}

async function withDatabase(url, fn) {
  const client = new pg.Client({ connectionString: url, application_name: 'expresso-e2e-migrate' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function appliedRows(url = databaseUrl) {
  return withDatabase(url, async (client) => {
    const { rows } = await client.query('SELECT name, checksum FROM schema_migrations ORDER BY name');
    return rows;
  });
}

async function tableExists(name, url = databaseUrl) {
  return withDatabase(url, async (client) => {
    const { rows } = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [name]);
    return rows[0].present;
  });
}

before(async () => {
  assert.ok(ownerUrl, 'EXPRESSO_DATABASE_OWNER_URL is not set; source the stack.env of the local stack');
  await fs.access(binary).catch(() => {
    throw new Error(`${binary} does not exist; build the project or set EXPRESSO_BUILD_DIR`);
  });
  admin = new pg.Client({ connectionString: ownerUrl, application_name: 'expresso-e2e-migrate' });
  await admin.connect();

  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'expresso-migrate-e2e-'));
  migrationsDir = path.join(workDir, 'migrations');
  await fs.cp(path.join(repo, 'migrations'), migrationsDir, { recursive: true });
  sourceFiles = (await fs.readdir(migrationsDir)).filter((name) => name.endsWith('.sql')).sort();
  assert.ok(sourceFiles.length >= 3, `expected the migrations of ${repo}/migrations`);
  databaseUrl = await createScratchDatabase();
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  for (const name of scratchDatabases) {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
  await admin?.end();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
}, { timeout: TEST_TIMEOUT_MS });

test('help lists every setting', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await runMigrate(['--help']);
  assert.equal(run.code, 0);
  for (const setting of [
    'EXPRESSO_DATABASE_OWNER_URL',
    'EXPRESSO_MIGRATIONS_DIR',
    'EXPRESSO_DATABASE_CONNECT_TIMEOUT',
    'EXPRESSO_MIGRATE_LOCK_TIMEOUT',
    'EXPRESSO_LOG_LEVEL',
    '--dir',
  ]) {
    assert.ok(run.stdout.includes(setting), `--help does not mention ${setting}`);
  }
});

test('missing database URL is a usage error', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await runMigrate(['--dir', migrationsDir, 'apply'], { env: { EXPRESSO_DATABASE_OWNER_URL: undefined } });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /EXPRESSO_DATABASE_OWNER_URL is not set/);
});

test('apply applies every migration in order', { timeout: TEST_TIMEOUT_MS }, async () => {
  const status = await runMigrate(['--dir', migrationsDir, 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`0 applied, ${sourceFiles.length} pending`));

  const run = await runMigrate(['--dir', migrationsDir, 'apply']);
  assert.equal(run.code, 0, run.stderr);
  const applied = eventsNamed(run, 'migration_applied');
  assert.deepEqual(
    applied.map((entry) => entry.name),
    sourceFiles,
  );
  for (const entry of applied) {
    assert.equal(entry.daemon, 'expresso-migrate');
    assert.equal(entry.level, 'info');
    assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }

  const rows = await appliedRows();
  assert.deepEqual(
    rows.map((row) => row.name),
    sourceFiles,
  );
  for (const row of rows) {
    const text = await fs.readFile(path.join(migrationsDir, row.name));
    assert.equal(row.checksum, sha256(text), `${row.name}: stored checksum differs from the file's SHA-256`);
  }
});

test('second apply applies nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await runMigrate(['--dir', migrationsDir, 'apply']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(eventsNamed(run, 'migration_applied').length, 0);
  const upToDate = eventsNamed(run, 'no_pending_migrations');
  assert.equal(upToDate.length, 1, run.stderr);
  assert.equal(upToDate[0].applied, sourceFiles.length);

  const status = await runMigrate(['--dir', migrationsDir, 'status']);
  assert.equal(status.code, 0, status.stderr);
  for (const name of sourceFiles) {
    assert.match(status.stdout, new RegExp(`^applied .*${name}$`, 'm'));
  }
  assert.match(status.stdout, new RegExp(`${sourceFiles.length} applied, 0 pending`));
});

test('new migration is applied alone', { timeout: TEST_TIMEOUT_MS }, async () => {
  const name = '29990101000000_notes_table.sql';
  await fs.writeFile(
    path.join(migrationsDir, name),
    `CREATE TABLE migrate_test_notes (
       id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
       tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
       body text NOT NULL
     );
     ALTER TABLE migrate_test_notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
     CREATE POLICY tenant_isolation ON migrate_test_notes FOR ALL
       USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
       WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);\n`,
  );

  const status = await runMigrate(['--dir', migrationsDir, 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^pending .*${name}$`, 'm'));

  const run = await runMigrate(['--dir', migrationsDir, 'apply']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(
    eventsNamed(run, 'migration_applied').map((entry) => entry.name),
    [name],
  );

  // The default privileges of the RLS bootstrap migration reach the new table.
  const privileges = await withDatabase(databaseUrl, async (client) => {
    const { rows } = await client.query(
      `SELECT has_table_privilege('expresso_app', 'migrate_test_notes', 'SELECT') AS can_select,
              has_table_privilege('expresso_app', 'migrate_test_notes', 'DELETE') AS can_delete`,
    );
    return rows[0];
  });
  assert.deepEqual(privileges, { can_select: true, can_delete: true });
});

test('failing migration is rolled back', { timeout: TEST_TIMEOUT_MS }, async () => {
  const name = '29990102000000_broken.sql';
  await fs.writeFile(path.join(migrationsDir, name), 'CREATE TABLE migrate_test_partial (id int);\n\nSELEC 1;\n');
  try {
    const run = await runMigrate(['--dir', migrationsDir, 'apply']);
    assert.equal(run.code, 1, run.stderr);
    const failed = eventsNamed(run, 'migration_failed');
    assert.equal(failed.length, 1, run.stderr);
    assert.equal(failed[0].name, name);
    assert.equal(failed[0].sqlstate, '42601');
    assert.equal(failed[0].line, 3);
    assert.equal(failed[0].level, 'error');
    assert.equal(await tableExists('migrate_test_partial'), false, 'statements before the error were kept');
    assert.ok(!(await appliedRows()).some((row) => row.name === name));
  } finally {
    await fs.rm(path.join(migrationsDir, name));
  }
});

test('tenant table without row-level security is rejected', { timeout: TEST_TIMEOUT_MS }, async () => {
  const name = '29990103000000_unsafe_table.sql';
  await fs.writeFile(
    path.join(migrationsDir, name),
    'CREATE TABLE migrate_test_unsafe (id int PRIMARY KEY, tenant_id uuid NOT NULL);\n',
  );
  try {
    const run = await runMigrate(['--dir', migrationsDir, 'apply']);
    assert.equal(run.code, 1, run.stderr);
    const rejected = eventsNamed(run, 'migration_rejected');
    assert.equal(rejected.length, 1, run.stderr);
    assert.equal(rejected[0].name, name);
    assert.match(rejected[0].message, /migrate_test_unsafe has row-level security disabled/);
    assert.equal(await tableExists('migrate_test_unsafe'), false);
  } finally {
    await fs.rm(path.join(migrationsDir, name));
  }
});

test('edited applied migration is rejected', { timeout: TEST_TIMEOUT_MS }, async () => {
  const edited = sourceFiles[0];
  const file = path.join(migrationsDir, edited);
  const original = await fs.readFile(file, 'utf8');
  const changed = `${original}\n-- an edit after the migration was applied\n`;
  const pending = '29990104000000_should_wait.sql';
  await fs.writeFile(file, changed);
  await fs.writeFile(path.join(migrationsDir, pending), 'CREATE TABLE migrate_test_waiting (id int);\n');
  try {
    const run = await runMigrate(['--dir', migrationsDir, 'apply']);
    assert.equal(run.code, 1, run.stderr);
    const modified = eventsNamed(run, 'migration_modified');
    assert.equal(modified.length, 1, run.stderr);
    assert.equal(modified[0].name, edited);
    assert.equal(modified[0].applied_checksum, sha256(original));
    assert.equal(modified[0].file_checksum, sha256(changed));
    for (const part of [edited, sha256(original), sha256(changed)]) {
      assert.ok(modified[0].message.includes(part), `message lacks ${part}: ${modified[0].message}`);
    }
    assert.equal(eventsNamed(run, 'migration_applied').length, 0);
    assert.equal(await tableExists('migrate_test_waiting'), false, 'a pending migration ran despite the edit');

    const status = await runMigrate(['--dir', migrationsDir, 'status']);
    assert.equal(status.code, 1);
    assert.match(status.stdout, new RegExp(`^modified .*${edited}`, 'm'));
  } finally {
    await fs.writeFile(file, original);
    await fs.rm(path.join(migrationsDir, pending));
  }
});

test('removed applied migration is rejected', { timeout: TEST_TIMEOUT_MS }, async () => {
  const removed = '29990101000000_notes_table.sql';
  const file = path.join(migrationsDir, removed);
  const hidden = path.join(workDir, removed);
  await fs.rename(file, hidden);
  try {
    const run = await runMigrate(['--dir', migrationsDir, 'apply']);
    assert.equal(run.code, 1, run.stderr);
    const missing = eventsNamed(run, 'migration_missing');
    assert.equal(missing.length, 1, run.stderr);
    assert.equal(missing[0].name, removed);
    assert.ok(missing[0].message.includes(removed));
  } finally {
    await fs.rename(hidden, file);
  }
});

test('late older migration is rejected', { timeout: TEST_TIMEOUT_MS }, async () => {
  const name = '20260417125000_late_branch.sql';
  await fs.writeFile(path.join(migrationsDir, name), 'CREATE TABLE migrate_test_late (id int);\n');
  try {
    const run = await runMigrate(['--dir', migrationsDir, 'apply']);
    assert.equal(run.code, 1, run.stderr);
    const late = eventsNamed(run, 'migration_out_of_order');
    assert.equal(late.length, 1, run.stderr);
    assert.equal(late[0].name, name);
    assert.equal(await tableExists('migrate_test_late'), false);
  } finally {
    await fs.rm(path.join(migrationsDir, name));
  }

  const clean = await runMigrate(['--dir', migrationsDir, 'apply']);
  assert.equal(clean.code, 0, clean.stderr);
});

test('concurrent runners apply each migration once', { timeout: TEST_TIMEOUT_MS }, async () => {
  const url = await createScratchDatabase();
  const runs = await Promise.all([
    runMigrate(['--dir', migrationsDir, 'apply'], { url }),
    runMigrate(['--dir', migrationsDir, 'apply'], { url }),
  ]);
  const files = (await fs.readdir(migrationsDir)).filter((name) => name.endsWith('.sql')).sort();
  for (const run of runs) assert.equal(run.code, 0, run.stderr);

  const appliedNames = runs.flatMap((run) => eventsNamed(run, 'migration_applied').map((entry) => entry.name));
  assert.deepEqual(appliedNames.sort(), files);
  const rows = await appliedRows(url);
  assert.equal(rows.length, files.length);
});

// Reads the seeded state of one tenant as the owner with the tenant bound.
async function seededState(tenantId) {
  return withDatabase(databaseUrl, async (client) => {
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const tenants = await client.query('SELECT slug, name FROM tenants');
    // The owner reads domains and users of every tenant (policy owner_lookup), so filter.
    const domains = await client.query('SELECT name FROM domains WHERE tenant_id = $1 ORDER BY name', [tenantId]);
    const users = await client.query(
      'SELECT id, email, username, display_name FROM users WHERE tenant_id = $1 ORDER BY email',
      [tenantId],
    );
    const passwords = await client.query(
      "SELECT user_id, hash FROM app_passwords WHERE name = 'seed' AND revoked_at IS NULL ORDER BY user_id",
    );
    const mailboxes = await client.query(
      `SELECT m.user_id, m.name, m.special_use, s.messages FROM mailboxes m
         LEFT JOIN mailbox_stats s ON s.mailbox_id = m.id ORDER BY m.user_id, m.name`,
    );
    await client.query('COMMIT');
    return {
      tenants: tenants.rows,
      domains: domains.rows,
      users: users.rows,
      passwords: passwords.rows,
      mailboxes: mailboxes.rows,
    };
  });
}

test('seed creates accounts and is idempotent', { timeout: TEST_TIMEOUT_MS }, async () => {
  const tenantA = crypto.randomUUID();
  const tenantB = crypto.randomUUID();
  const users = [
    { id: crypto.randomUUID(), tenant: 'seed-a', email: 'Ana@Seed-A.test', username: 'ana', name: 'Ana Lima' },
    { id: crypto.randomUUID(), tenant: 'seed-a', email: 'bruno@seed-a.test', username: 'bruno', name: 'Bruno' },
    { id: crypto.randomUUID(), tenant: 'seed-b', email: 'caio@seed-b.test', username: 'caio', name: 'Caio' },
  ].map((user) => ({
    ...user,
    roles: ['user'],
    password: 'idp-only',
    app_password: crypto.randomBytes(12).toString('hex'),
  }));
  const accounts = {
    tenants: [
      { id: tenantA, slug: 'seed-a', name: 'Seed A', domains: ['seed-a.test'] },
      { id: tenantB, slug: 'seed-b', name: 'Seed B', domains: ['seed-b.test'] },
    ],
    users,
  };
  const accountsFile = path.join(workDir, 'accounts.json');
  await fs.writeFile(accountsFile, JSON.stringify(accounts));
  seeded = { tenant: tenantA, user: users[0].id };

  const first = await runMigrate(['--dir', migrationsDir, 'seed', accountsFile]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(eventsNamed(first, 'seed_finished')[0].changed, true);
  assert.ok(!first.stderr.includes(users[0].app_password), 'the log contains an app password');

  const stateA = await seededState(tenantA);
  assert.deepEqual(stateA.tenants, [{ slug: 'seed-a', name: 'Seed A' }]);
  assert.deepEqual(stateA.domains, [{ name: 'seed-a.test' }]);
  assert.deepEqual(
    stateA.users.map((user) => user.email),
    ['ana@seed-a.test', 'bruno@seed-a.test'],
  );
  assert.equal(stateA.passwords.length, 2);
  for (const row of stateA.passwords) {
    assert.match(row.hash, /^\$argon2id\$v=19\$m=65536,t=3,p=1\$/);
  }
  const anaMailboxes = stateA.mailboxes.filter((mailbox) => mailbox.user_id === users[0].id);
  assert.deepEqual(
    anaMailboxes.map((mailbox) => [mailbox.name, mailbox.special_use, mailbox.messages]),
    [
      ['Archive', '\\Archive', '0'],
      ['Drafts', '\\Drafts', '0'],
      ['INBOX', null, '0'],
      ['Junk', '\\Junk', '0'],
      ['Sent', '\\Sent', '0'],
      ['Trash', '\\Trash', '0'],
    ],
  );
  const stateB = await seededState(tenantB);
  assert.deepEqual(
    stateB.users.map((user) => user.email),
    ['caio@seed-b.test'],
  );
  assert.equal(stateB.mailboxes.length, 6);

  const second = await runMigrate(['--dir', migrationsDir, 'seed', accountsFile]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(eventsNamed(second, 'seed_finished')[0].changed, false);
  assert.deepEqual(await seededState(tenantA), stateA, 'a second seed changed tenant A');
  assert.deepEqual(await seededState(tenantB), stateB, 'a second seed changed tenant B');

  // A new app password for one user rehashes only that user's.
  users[1].app_password = crypto.randomBytes(12).toString('hex');
  users[0].name = 'Ana Lima Souza';
  await fs.writeFile(accountsFile, JSON.stringify(accounts));
  const third = await runMigrate(['--dir', migrationsDir, 'seed', accountsFile]);
  assert.equal(third.code, 0, third.stderr);
  const tenantEvent = eventsNamed(third, 'seed_tenant').find((entry) => entry.tenant === 'seed-a');
  assert.equal(tenantEvent.app_passwords_set, 1);
  assert.equal(tenantEvent.users_updated, 1);
  const after = await seededState(tenantA);
  const hashOf = (state, id) => state.passwords.find((row) => row.user_id === id).hash;
  assert.equal(hashOf(after, users[0].id), hashOf(stateA, users[0].id));
  assert.notEqual(hashOf(after, users[1].id), hashOf(stateA, users[1].id));
  assert.equal(after.users.find((user) => user.id === users[0].id).display_name, 'Ana Lima Souza');
});

test('seed rejects a domain owned by another tenant', { timeout: TEST_TIMEOUT_MS }, async () => {
  const accountsFile = path.join(workDir, 'conflict.json');
  await fs.writeFile(
    accountsFile,
    JSON.stringify({
      tenants: [{ id: crypto.randomUUID(), slug: 'seed-c', name: 'Seed C', domains: ['seed-a.test'] }],
      users: [],
    }),
  );
  const run = await runMigrate(['--dir', migrationsDir, 'seed', accountsFile]);
  assert.equal(run.code, 1, run.stderr);
  const failed = eventsNamed(run, 'seed_failed');
  assert.equal(failed.length, 1, run.stderr);
  assert.match(failed[0].message, /domain seed-a\.test already belongs to tenant/);
});

test('mailbox_stats follows message changes', { timeout: TEST_TIMEOUT_MS }, async () => {
  assert.ok(appUrl, 'EXPRESSO_DATABASE_URL is not set; source the stack.env of the local stack');
  assert.ok(seeded, 'the seed test did not run');
  const url = new URL(appUrl);
  url.pathname = new URL(databaseUrl).pathname;

  await withDatabase(url.toString(), async (client) => {
    await client.query('BEGIN');
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [seeded.tenant]);
    const mailbox = async (name) =>
      (await client.query('SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2', [seeded.user, name])).rows[0].id;
    const inbox = await mailbox('INBOX');
    const archive = await mailbox('Archive');

    // Compares each stats row with a count over messages.
    const expectConsistent = async (step) => {
      const { rows } = await client.query(
        `SELECT m.name, s.messages, s.unseen, s.bytes,
                count(x.id) AS real_messages,
                count(x.id) FILTER (WHERE NOT ('\\Seen' = ANY (x.flags))) AS real_unseen,
                coalesce(sum(x.size), 0) AS real_bytes
           FROM mailboxes m
           JOIN mailbox_stats s ON s.mailbox_id = m.id
           LEFT JOIN messages x ON x.mailbox_id = m.id
          WHERE m.id IN ($1, $2)
          GROUP BY m.name, s.messages, s.unseen, s.bytes`,
        [inbox, archive],
      );
      assert.equal(rows.length, 2, `${step}: stats rows missing`);
      for (const row of rows) {
        assert.deepEqual(
          [row.messages, row.unseen, row.bytes],
          [row.real_messages, row.real_unseen, String(row.real_bytes)],
          `${step}: stats of ${row.name} disagree with its messages`,
        );
      }
      return Object.fromEntries(
        rows.map((row) => [row.name, [Number(row.messages), Number(row.unseen), Number(row.bytes)]]),
      );
    };

    await client.query(
      `INSERT INTO messages (tenant_id, mailbox_id, uid, modseq, flags, size, storage_key)
       SELECT $1, $2, g, 1, CASE WHEN g % 3 = 0 THEN ARRAY['\\Seen'] ELSE '{}' END, 100 * g, 'stats-test/' || g
         FROM generate_series(1, 9) AS g`,
      [seeded.tenant, inbox],
    );
    assert.deepEqual(await expectConsistent('insert'), { INBOX: [9, 6, 4500], Archive: [0, 0, 0] });

    await client.query(
      `UPDATE messages SET flags = array_append(flags, '\\Seen'), modseq = 2
        WHERE mailbox_id = $1 AND uid <= 4 AND NOT ('\\Seen' = ANY (flags))`,
      [inbox],
    );
    assert.deepEqual(await expectConsistent('store \\Seen'), { INBOX: [9, 3, 4500], Archive: [0, 0, 0] });

    await client.query('UPDATE messages SET modseq = 3 WHERE mailbox_id = $1', [inbox]);
    assert.deepEqual(await expectConsistent('modseq only'), { INBOX: [9, 3, 4500], Archive: [0, 0, 0] });

    // A move: the trigger gives each message the next UID of the target mailbox.
    await client.query('UPDATE messages SET mailbox_id = $2 WHERE mailbox_id = $1 AND uid >= 7', [
      inbox,
      archive,
    ]);
    assert.deepEqual(await expectConsistent('move'), { INBOX: [6, 1, 2100], Archive: [3, 2, 2400] });

    await client.query('DELETE FROM messages WHERE mailbox_id = $1 AND uid IN (1, 5)', [inbox]);
    assert.deepEqual(await expectConsistent('expunge'), { INBOX: [4, 0, 1500], Archive: [3, 2, 2400] });

    await client.query('SAVEPOINT direct_write');
    await assert.rejects(
      client.query('UPDATE mailbox_stats SET messages = 0 WHERE mailbox_id = $1', [inbox]),
      (error) => error.code === '42501',
      'the application role wrote mailbox_stats directly',
    );
    await client.query('ROLLBACK TO SAVEPOINT direct_write');

    const created = await client.query(
      "INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, 'Stats/New') RETURNING id",
      [seeded.tenant, seeded.user],
    );
    const fresh = await client.query('SELECT messages, unseen, bytes FROM mailbox_stats WHERE mailbox_id = $1', [
      created.rows[0].id,
    ]);
    assert.deepEqual(fresh.rows, [{ messages: '0', unseen: '0', bytes: '0' }]);
    await client.query('ROLLBACK');
  });
});
