// The SEARCH BODY and TEXT index of expresso-mail, and IMAP LOGIN under
// more concurrent logins than database connections.
//
// Two private expresso-mail instances run on the stack's database and
// storage: one with the index off (EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT=0),
// which reads every stored message, and one with the index on and a cap
// of 8 KiB, so that one message of the corpus is too large to index. The
// same searches must return the same UIDs from both: before the index has
// rows (the corpus is appended through the first instance, so the first
// search writes them), after, and for messages whose rows APPEND wrote on
// the second instance. A third instance has a
// pool of one database connection and takes 16 LOGINs with an app
// password at once.
//
// Messages delivered over SMTP get their rows from a background thread
// after the 250 reply. The test waits for the rows without searching, then
// compares the two instances again, with one message expunged right after
// its delivery. COPY and the JSON API's copy in Sent get rows as well.
// Further instances check EXPRESSO_DELIVERY_INDEX_QUEUE at 0,
// which leaves delivered messages to the first search, and one past its
// maximum, which the daemon rejects at start.
//
// Needs: the stack up (scripts/run-local.sh), the variables of stack.env,
// pg (package.json), and scripts/dev-token.sh for the JSON API's token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import pg from 'pg';

import { RawImapClient } from './lib/imap_raw.mjs';
import { sendMessage } from './lib/smtp_client.mjs';
import { buildDir, freePort, repoRoot, requireEnv, startDaemon, waitForHttp } from './lib/stack.mjs';

const TEST_TIMEOUT_MS = 300_000;
const INDEX_MAX_TEXT = 8192;
const CONCURRENT_LOGINS = 16;
const MAX_INDEX_QUEUE = 1_000_000;
const ROW_WAIT_ATTEMPTS = 300;
const ROW_WAIT_INTERVAL_MS = 100;
const runId = crypto.randomBytes(4).toString('hex');
const mailbox = `Busca-${runId}`;
const env = {};
const instances = [];

// Starts a private expresso-mail with only plaintext IMAP on loopback and the given settings.
async function startMail(settings) {
  const ports = { http: await freePort(), imap: await freePort() };
  const instance = startDaemon(path.join(buildDir, 'services', 'mail', 'expresso-mail'), {
    EXPRESSO_HTTP_ADDRESS: '127.0.0.1',
    EXPRESSO_HTTP_PORT: String(ports.http),
    EXPRESSO_SMTP_PORT: '0',
    EXPRESSO_SUBMISSION_PORT: '0',
    EXPRESSO_SUBMISSIONS_PORT: '0',
    EXPRESSO_MANAGESIEVE_PORT: '0',
    EXPRESSO_IMAPS_PORT: '0',
    EXPRESSO_IMAP_PORT: String(ports.imap),
    EXPRESSO_IMAP_LOOPBACK_PLAINTEXT: 'true',
    EXPRESSO_OUTBOUND_WORKERS: '0',
    EXPRESSO_STORAGE_DIR: path.join(env.EXPRESSO_STATE_DIR, 'storage'),
    ...settings,
  });
  instances.push(instance);
  try {
    await waitForHttp(`http://127.0.0.1:${ports.http}/ready`, { timeoutMs: 20_000 });
  } catch (error) {
    throw new Error(`${error.message}; daemon output:\n${instance.lines.slice(-10).join('\n')}`);
  }
  instance.imapPort = ports.imap;
  instance.httpPort = ports.http;
  return instance;
}

async function login(port) {
  const client = await RawImapClient.connect(port);
  await client.command(`LOGIN "${env.EXPRESSO_ALICE_EMAIL}" "${env.EXPRESSO_ALICE_APP_PASSWORD}"`);
  return client;
}

// Returns the UIDs of a UID SEARCH (COMMAND is everything after UID SEARCH, a Buffer or string).
async function uidSearch(client, command) {
  const untagged = await client.command(Buffer.concat([Buffer.from('UID SEARCH '), Buffer.from(command)]));
  const line = untagged.map((response) => response.toString('utf8')).find((text) => text.startsWith('* SEARCH'));
  assert.ok(line, `no SEARCH response to ${command}`);
  return line.slice('* SEARCH'.length).trim().split(' ').filter(Boolean).map(Number);
}

// A UTF-8 search string as a LITERAL+ literal, so that accents and quotes reach the server as sent.
function literal(text) {
  const octets = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from(`{${octets.length}+}\r\n`), octets]);
}

function message({ subject = 'Plain', from = 'Ana <ana@example.org>', headers = '', body, contentType, encoding }) {
  return Buffer.from([
    `From: ${from}`,
    'To: alice@demo.expresso.test',
    `Subject: ${subject}`,
    `Message-ID: <${crypto.randomUUID()}@example.org>`,
    'Date: Fri, 04 Dec 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    ...(headers ? [headers] : []),
    `Content-Type: ${contentType || 'text/plain; charset=utf-8'}`,
    `Content-Transfer-Encoding: ${encoding || '8bit'}`,
    '',
    body,
    '',
  ].join('\r\n'), 'utf8');
}

// The corpus: plain, quoted-printable, base64, Latin-1, multipart with an attachment, encoded-word headers,
// LIKE metacharacters and one message above INDEX_MAX_TEXT, with filler between them.
function corpus() {
  const messages = [];
  const filler = ['relatório mensal', 'pauta da reunião', 'orçamento anual', 'férias coletivas', 'café da manhã'];
  for (let i = 0; i < 60; i++) {
    messages.push(message({ subject: `Assunto ${i}`, body: `${filler[i % filler.length]} número ${i}\r\nlinha dois` }));
  }
  messages.push(message({ body: 'Tocou o xilofone na Conceição.' }));
  messages.push(message({ body: 'Toco=20o=20XILOFONE=20na=20CONCEI=C3=87=C3=83O', encoding: 'quoted-printable' }));
  messages.push(message({ body: Buffer.from('A ação do xilofonista em São Paulo').toString('base64'),
    encoding: 'base64' }));
  messages.push(Buffer.concat([
    Buffer.from('From: Bia <bia@example.org>\r\nSubject: Latin-1\r\nMIME-Version: 1.0\r\n'
      + 'Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
    Buffer.from('Concei\xe7\xe3o e a\xe7\xe3o em latim\r\n', 'latin1'),
  ]));
  messages.push(message({ subject: '=?UTF-8?Q?Reuni=C3=A3o_sobre_o_xilofone?=', body: 'Sem a palavra no corpo.' }));
  messages.push(message({ from: '=?UTF-8?B?Sm/Do28gZGEgQ29uY2Vpw6fDo28=?= <joao@example.org>', body: 'corpo simples' }));
  messages.push(message({ headers: 'X-Projeto: Xilofone-Concei\u00e7\u00e3o', body: 'cabeçalho extra' }));
  messages.push(message({
    contentType: 'multipart/mixed; boundary=limite',
    body: ['--limite', 'Content-Type: text/plain; charset=utf-8', '', 'Parte de texto com ação.', '--limite',
      'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '',
      Buffer.from('xilofone escondido no anexo').toString('base64'), '--limite--'].join('\r\n'),
  }));
  messages.push(message({ body: 'Desconto de 100% no item a_b e c:\\x' }));
  messages.push(message({ body: 'Desconto de 1000 no item axb' }));
  messages.push(message({ body: `${'palavra '.repeat(INDEX_MAX_TEXT / 8 + 100)}xilofone grande Conceição` }));
  messages.push(message({ subject: 'Vazio', body: '' }));
  return messages;
}

const SEARCHES = [
  'TEXT xilofone', 'BODY xilofone', 'TEXT xilo', 'BODY XILO', 'TEXT conceicao', 'BODY conceicao',
  Buffer.concat([Buffer.from('TEXT '), literal('Conceição')]), Buffer.concat([Buffer.from('BODY '), literal('AÇÃO')]),
  'BODY acao', 'TEXT reuniao', 'BODY reuniao', 'TEXT joao', 'TEXT "xilofone-conceicao"', 'BODY anexo',
  'BODY "100%"', 'BODY "%"', 'BODY a_b', 'BODY "c:\\\\x"', 'BODY "_"', 'TEXT xi', 'BODY o', 'BODY ""', 'TEXT ""',
  'BODY grande', 'TEXT palavra', 'NOT BODY xilofone', 'OR BODY xilofone SUBJECT reuniao', 'BODY xilofone BODY conceicao',
  'UNSEEN TEXT relatorio', 'TEXT "linha dois"', 'BODY numero', 'TEXT ana@example.org',
];

// Returns uid and whether the row has text, for each message of alice's mailbox NAME from FIRST_UID on that has an index row.
async function indexRows(database, tenantId, name = mailbox, firstUid = 0) {
  await database.query('BEGIN');
  try {
    await database.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const { rows } = await database.query(
      'SELECT m.uid::int AS uid, t.body IS NOT NULL AS indexed FROM messages AS m '
      + 'JOIN mailboxes AS b ON b.id = m.mailbox_id JOIN message_search_text AS t ON t.message_id = m.id '
      + 'WHERE b.name = $1 AND m.uid >= $3 AND b.user_id = (SELECT user_id FROM ex_tenant_for_login($2)) ORDER BY m.uid',
      [name, env.EXPRESSO_ALICE_EMAIL, firstUid]);
    return rows;
  } finally {
    await database.query('COMMIT');
  }
}

// Returns uid and whether the row has text, for each INBOX message of alice from FIRST_UID on that has an index row.
function inboxRows(database, tenantId, firstUid) {
  return indexRows(database, tenantId, 'INBOX', firstUid);
}

// Polls inboxRows until it returns COUNT rows, at most ROW_WAIT_ATTEMPTS times.
async function waitForInboxRows(database, tenantId, firstUid, count) {
  let rows = [];
  for (let attempt = 0; attempt < ROW_WAIT_ATTEMPTS; attempt++) {
    rows = await inboxRows(database, tenantId, firstUid);
    if (rows.length >= count) return rows;
    await new Promise((resolve) => setTimeout(resolve, ROW_WAIT_INTERVAL_MS));
  }
  return rows;
}

// Returns the UIDNEXT of alice's INBOX.
async function inboxUidNext(client) {
  const untagged = await client.command('STATUS INBOX (UIDNEXT)');
  const line = untagged.map((response) => response.toString('utf8')).find((text) => text.startsWith('* STATUS'));
  assert.ok(line, 'no STATUS response');
  return Number(/UIDNEXT (\d+)/.exec(line)[1]);
}

function devToken(email) {
  return new Promise((resolve, reject) => {
    execFile(path.join(repoRoot, 'scripts', 'dev-token.sh'), [email], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`dev-token.sh ${email} failed: ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

function deliver(port, content) {
  return sendMessage(port, { from: 'ana@example.org', to: env.EXPRESSO_ALICE_EMAIL, content });
}

async function assertSameResults(scanClient, indexClient, label, prefix = '') {
  for (const search of SEARCHES) {
    const command = Buffer.concat([Buffer.from(prefix), Buffer.from(search)]);
    const expected = await uidSearch(scanClient, command);
    assert.deepEqual(await uidSearch(indexClient, command), expected, `${prefix}${search} (${label})`);
  }
}

before(async () => {
  for (const name of ['EXPRESSO_STATE_DIR', 'EXPRESSO_DATABASE_URL', 'EXPRESSO_ALICE_EMAIL',
    'EXPRESSO_ALICE_APP_PASSWORD']) {
    env[name] = requireEnv(name);
  }
});

after(async () => {
  for (const instance of instances) {
    if (instance.child.exitCode === null) {
      instance.child.kill('SIGTERM');
      await instance.exited;
    }
  }
});

test('SEARCH BODY and TEXT return the same UIDs from index and scan', { timeout: TEST_TIMEOUT_MS }, async () => {
  const scan = await startMail({ EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT: '0' });
  const indexed = await startMail({ EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT: String(INDEX_MAX_TEXT) });
  const scanClient = await login(scan.imapPort);
  const indexClient = await login(indexed.imapPort);
  const database = new pg.Client({ connectionString: env.EXPRESSO_DATABASE_URL });
  await database.connect();
  try {
    const { rows: [account] } = await database.query('SELECT tenant_id FROM ex_tenant_for_login($1)',
      [env.EXPRESSO_ALICE_EMAIL]);
    await scanClient.command(`CREATE "${mailbox}"`);
    const messages = corpus();
    for (const octets of messages) await scanClient.append(mailbox, octets);
    assert.deepEqual(await indexRows(database, account.tenant_id), [], 'APPEND with the index off writes no row');
    await scanClient.command(`SELECT "${mailbox}"`);
    await indexClient.command(`SELECT "${mailbox}"`);

    const planted = new Map();
    for (const search of ['TEXT xilofone', 'BODY conceicao', 'BODY "100%"', 'BODY anexo', 'BODY grande']) {
      planted.set(search, await uidSearch(scanClient, search));
    }
    assert.equal(planted.get('TEXT xilofone').length, 5,
      'planted in two bodies, a Subject, an X-Projeto field and the large body');
    assert.equal(planted.get('BODY conceicao').length, 4);
    assert.equal(planted.get('BODY "100%"').length, 1);
    assert.equal(planted.get('BODY anexo').length, 0);
    assert.equal(planted.get('BODY grande').length, 1);

    // The first pass scans and writes the rows, the second reads the index.
    await assertSameResults(scanClient, indexClient, 'without rows');
    let rows = await indexRows(database, account.tenant_id);
    assert.equal(rows.length, messages.length, 'the first search wrote a row for every message');
    assert.deepEqual(rows.filter((row) => !row.indexed).map((row) => row.uid), planted.get('BODY grande'),
      'only the message above the cap has a row without text');
    await assertSameResults(scanClient, indexClient, 'with rows');

    // APPEND with the index on writes the row in its own transaction.
    const appended = [messages[60], messages[68], messages[messages.length - 2]];
    for (const octets of appended) await indexClient.append(mailbox, octets);
    rows = await indexRows(database, account.tenant_id);
    assert.equal(rows.length, messages.length + appended.length, 'APPEND wrote the rows');
    assert.equal(rows.filter((row) => !row.indexed).length, 2, 'the large message appended again has no text');
    await scanClient.command('NOOP');
    await indexClient.command('NOOP');
    await assertSameResults(scanClient, indexClient, 'after APPEND');

    // A row changed behind the daemon's back shows that the result comes from the index.
    const target = rows.find((row) => row.indexed).uid;
    await database.query('BEGIN');
    await database.query("SELECT set_config('app.tenant_id', $1, true)", [account.tenant_id]);
    const { rows: [changed] } = await database.query(
      'DELETE FROM message_search_text WHERE message_id = (SELECT m.id FROM messages AS m JOIN mailboxes AS b '
      + 'ON b.id = m.mailbox_id WHERE b.name = $1 AND m.uid = $2 '
      + 'AND b.user_id = (SELECT user_id FROM ex_tenant_for_login($3))) RETURNING message_id, tenant_id, headers',
      [mailbox, target, env.EXPRESSO_ALICE_EMAIL]);
    await database.query('INSERT INTO message_search_text (message_id, tenant_id, headers, body) VALUES ($1, $2, $3, $4)',
      [changed.message_id, changed.tenant_id, changed.headers, 'marcador-do-indice\n']);
    await database.query('COMMIT');
    assert.deepEqual(await uidSearch(indexClient, 'BODY marcador-do-indice'), [Number(target)]);
    assert.deepEqual(await uidSearch(scanClient, 'BODY marcador-do-indice'), []);

    await indexClient.command('CLOSE');
    await indexClient.command(`DELETE "${mailbox}"`);
  } finally {
    await database.end();
    scanClient.close();
    indexClient.close();
  }
});

test('SMTP delivery writes index rows after 250', { timeout: TEST_TIMEOUT_MS }, async () => {
  const scan = await startMail({ EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT: '0' });
  const smtpPort = await freePort();
  const delivering = await startMail({
    EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT: String(INDEX_MAX_TEXT),
    EXPRESSO_SMTP_PORT: String(smtpPort),
    EXPRESSO_SMTP_GREETING_DELAY: '0',
  });
  const scanClient = await login(scan.imapPort);
  const indexClient = await login(delivering.imapPort);
  const database = new pg.Client({ connectionString: env.EXPRESSO_DATABASE_URL });
  await database.connect();
  try {
    const { rows: [account] } = await database.query('SELECT tenant_id FROM ex_tenant_for_login($1)',
      [env.EXPRESSO_ALICE_EMAIL]);
    const firstUid = await inboxUidNext(scanClient);
    await scanClient.command('SELECT INBOX');

    // A message expunged right after its 250 must not fail the worker.
    const expungedSubject = `Apagada-${runId}`;
    const reply = await deliver(smtpPort, message({ subject: expungedSubject, body: 'xilofone apagado' }));
    assert.equal(reply.code, 250, reply.text);
    await scanClient.command('NOOP');
    const [expungedUid] = await uidSearch(scanClient, `SUBJECT ${expungedSubject}`);
    assert.ok(expungedUid >= firstUid, 'the expunged message was delivered to INBOX');
    await scanClient.command(`UID STORE ${expungedUid} +FLAGS.SILENT (\\Deleted)`);
    await scanClient.command(`UID EXPUNGE ${expungedUid}`);

    const messages = corpus();
    for (const octets of messages) {
      const delivered = await deliver(smtpPort, octets);
      assert.equal(delivered.code, 250, delivered.text);
    }

    // No search has run on these messages, so only the background thread can have written their rows.
    const rows = await waitForInboxRows(database, account.tenant_id, firstUid, messages.length);
    assert.equal(rows.length, messages.length, 'every delivered message that was not expunged got a row');
    assert.ok(!rows.some((row) => row.uid === expungedUid), 'the expunged message has no row');
    assert.equal(rows.filter((row) => !row.indexed).length, 1, 'only the message above the cap has no text');
    const failures = delivering.lines.filter((line) => /delivery_index_(read|write)_failed/.test(line));
    assert.deepEqual(failures, [], 'the index worker logged no failure');

    // COPY copies the row of its source in the same transaction.
    const copyMailbox = `Copia-${runId}`;
    await indexClient.command('SELECT INBOX');
    await indexClient.command(`CREATE "${copyMailbox}"`);
    await indexClient.command(`UID COPY ${firstUid}:* "${copyMailbox}"`);
    const copied = await indexRows(database, account.tenant_id, copyMailbox);
    assert.equal(copied.length, messages.length, 'every copy has its row');
    assert.equal(copied.filter((row) => !row.indexed).length, 1, 'the large message is copied without text');
    await indexClient.command(`DELETE "${copyMailbox}"`);

    await scanClient.command('NOOP');
    const range = `UID ${firstUid}:* `;
    await assertSameResults(scanClient, indexClient, 'after SMTP delivery', range);
    assert.deepEqual(await uidSearch(indexClient, `${range}BODY apagado`), []);
    assert.deepEqual(await uidSearch(scanClient, `${range}BODY apagado`), []);
    assert.equal((await inboxRows(database, account.tenant_id, firstUid)).length, messages.length,
      'the searches found every row written already');
  } finally {
    await database.end();
    scanClient.close();
    indexClient.close();
  }
});

test('JSON API Sent copy gets its row', { timeout: TEST_TIMEOUT_MS }, async () => {
  const instance = await startMail({ EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT: String(INDEX_MAX_TEXT) });
  const token = await devToken(env.EXPRESSO_ALICE_EMAIL);
  const subject = `Enviada-${runId}`;
  const response = await fetch(`http://127.0.0.1:${instance.httpPort}/api/v1/mail/send`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ to: [env.EXPRESSO_ALICE_EMAIL], subject, text: 'Xilofone enviado pela API.\n' }),
  });
  const sent = await response.json();
  assert.equal(response.status, 201, JSON.stringify(sent));
  assert.ok(sent.sent?.id, 'the copy in Sent has an id');

  const database = new pg.Client({ connectionString: env.EXPRESSO_DATABASE_URL });
  await database.connect();
  try {
    const { rows: [account] } = await database.query('SELECT tenant_id FROM ex_tenant_for_login($1)',
      [env.EXPRESSO_ALICE_EMAIL]);
    let rows = [];
    for (let attempt = 0; attempt < ROW_WAIT_ATTEMPTS && rows.length === 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, ROW_WAIT_INTERVAL_MS));
      await database.query('BEGIN');
      await database.query("SELECT set_config('app.tenant_id', $1, true)", [account.tenant_id]);
      ({ rows } = await database.query('SELECT headers, body FROM message_search_text WHERE message_id = $1',
        [sent.sent.id]));
      await database.query('COMMIT');
    }
    assert.equal(rows.length, 1, 'the Sent copy got its row');
    assert.match(rows[0].body, /xilofone enviado pela api/);
    assert.match(rows[0].headers, new RegExp(subject.toLowerCase()));
  } finally {
    await database.end();
  }
});

test('delivery index queue setting limits', { timeout: TEST_TIMEOUT_MS }, async () => {
  // One past the maximum: the daemon rejects the setting and exits.
  const rejected = startMail({ EXPRESSO_DELIVERY_INDEX_QUEUE: String(MAX_INDEX_QUEUE + 1) });
  await assert.rejects(rejected, /did not answer/);
  const rejectedInstance = instances[instances.length - 1];
  await rejectedInstance.exited;
  assert.ok(rejectedInstance.lines.some((line) => line.includes('EXPRESSO_DELIVERY_INDEX_QUEUE')
    && line.includes('must be between 0 and 1000000')), 'the error names the setting and its range');

  // The maximum starts.
  const largest = await startMail({ EXPRESSO_DELIVERY_INDEX_QUEUE: String(MAX_INDEX_QUEUE) });
  assert.ok(largest.lines.some((line) => line.includes('delivery_index_started')
    && line.includes(`"queue":${MAX_INDEX_QUEUE}`)), 'the largest queue starts');

  // 0: a delivered message waits for the first search.
  const offPort = await freePort();
  const off = await startMail({ EXPRESSO_DELIVERY_INDEX_QUEUE: '0', EXPRESSO_SMTP_PORT: String(offPort),
    EXPRESSO_SMTP_GREETING_DELAY: '0' });
  assert.ok(off.lines.some((line) => line.includes('delivery_index_off')), 'queue 0 turns the worker off');
  const onPort = await freePort();
  await startMail({ EXPRESSO_SMTP_PORT: String(onPort), EXPRESSO_SMTP_GREETING_DELAY: '0' });
  const client = await login(off.imapPort);
  const database = new pg.Client({ connectionString: env.EXPRESSO_DATABASE_URL });
  await database.connect();
  try {
    const { rows: [account] } = await database.query('SELECT tenant_id FROM ex_tenant_for_login($1)',
      [env.EXPRESSO_ALICE_EMAIL]);
    const firstUid = await inboxUidNext(client);
    let reply = await deliver(offPort, message({ subject: `Sem-indice-${runId}`, body: 'fila desligada' }));
    assert.equal(reply.code, 250, reply.text);
    reply = await deliver(onPort, message({ subject: `Com-indice-${runId}`, body: 'fila ligada' }));
    assert.equal(reply.code, 250, reply.text);
    const rows = await waitForInboxRows(database, account.tenant_id, firstUid, 1);
    assert.deepEqual(rows.map((row) => row.uid), [firstUid + 1], 'only the message of the instance with a queue has a row');

    // The first search writes the missing row, as for messages stored before the index existed.
    await client.command('SELECT INBOX');
    assert.deepEqual(await uidSearch(client, `UID ${firstUid}:* BODY desligada`), [firstUid]);
    assert.deepEqual((await inboxRows(database, account.tenant_id, firstUid)).map((row) => row.uid),
      [firstUid, firstUid + 1]);
  } finally {
    await database.end();
    client.close();
  }
});

test('LOGIN succeeds with more clients than database connections', { timeout: TEST_TIMEOUT_MS }, async () => {
  const narrow = await startMail({ EXPRESSO_DATABASE_POOL_SIZE: '1', EXPRESSO_IMAP_WORKERS: String(CONCURRENT_LOGINS * 2) });
  const started = Date.now();
  const results = await Promise.allSettled(Array.from({ length: CONCURRENT_LOGINS }, async () => {
    const client = await login(narrow.imapPort);
    try {
      await client.command('SELECT INBOX');
    } finally {
      client.close();
    }
  }));
  const failures = results.filter((result) => result.status === 'rejected').map((result) => result.reason.message);
  assert.deepEqual(failures, [], `${failures.length} of ${CONCURRENT_LOGINS} logins failed in ${Date.now() - started} ms`);
});
