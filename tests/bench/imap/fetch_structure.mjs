// Times `FETCH 1:* (ENVELOPE BODYSTRUCTURE)` on one mailbox of
// expresso-mail. The mailbox is filled once by APPEND with the messages
// of tests/data/eml in turn, then the FETCH runs RUNS times and the
// script prints each time and the median.
//
// Run from tests/e2e (for its node_modules) with stack.env loaded:
//   node ../bench/imap/fetch_structure.mjs [messages] [runs]
// Environment: EXPRESSO_IMAPS_PORT (or BENCH_IMAPS_PORT for another
// daemon on the same database), EXPRESSO_TLS_CA, EXPRESSO_ALICE_EMAIL,
// EXPRESSO_ALICE_APP_PASSWORD, BENCH_MAILBOX (default "Bench structure").
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { RawImapClient } from '../../e2e/lib/imap_raw.mjs';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const messages = Number(process.argv[2] || 3000);
const runs = Number(process.argv[3] || 5);
const mailbox = process.env.BENCH_MAILBOX || 'Bench structure';
const port = Number(process.env.BENCH_IMAPS_PORT || process.env.EXPRESSO_IMAPS_PORT);

const corpusDir = path.join(repoRoot, 'tests', 'data', 'eml');
const corpus = readdirSync(corpusDir).filter((name) => name.endsWith('.eml')).sort()
  .map((name) => Buffer.from(readFileSync(path.join(corpusDir, name)).toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));

const client = await RawImapClient.connect(port, { ca: readFileSync(process.env.EXPRESSO_TLS_CA) });
await client.command(`LOGIN "${process.env.EXPRESSO_ALICE_EMAIL}" "${process.env.EXPRESSO_ALICE_APP_PASSWORD}"`);
await client.command(`CREATE "${mailbox}"`).catch(() => {});
const status = await client.command(`STATUS "${mailbox}" (MESSAGES)`);
let present = Number(/MESSAGES (\d+)/.exec(status.join(' '))[1]);
while (present < messages) {
  await client.append(mailbox, corpus[present % corpus.length]);
  present++;
}
await client.command(`SELECT "${mailbox}"`);

const times = [];
for (let run = 0; run < runs; run++) {
  const start = process.hrtime.bigint();
  const responses = await client.command('FETCH 1:* (ENVELOPE BODYSTRUCTURE)');
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (responses.length < present) throw new Error(`FETCH returned ${responses.length} of ${present} messages`);
  times.push(seconds);
  console.log(`run ${run + 1}: ${seconds.toFixed(3)} s for ${present} messages`);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`median: ${median.toFixed(3)} s, ${(present / median).toFixed(0)} messages/s`);
await client.command('LOGOUT').catch(() => {});
client.close();
