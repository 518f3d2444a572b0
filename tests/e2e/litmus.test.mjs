// litmus (Debian package), the WebDAV conformance suite, runs its basic,
// copymove and props suites against a collection in alice's calendar
// home. A CalDAV server departs from plain WebDAV on purpose in a few
// places; each expected failure below names the rule (see the litmus
// section of docs/calendar.md). The test fails when any other litmus test
// fails, and also when an expected failure starts passing, so the list
// stays true.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { requireEnv } from './lib/stack.mjs';

const BASE = requireEnv('EXPRESSO_CALDAV_URL');
const EMAIL = requireEnv('EXPRESSO_ALICE_EMAIL');
const APP_PASSWORD = requireEnv('EXPRESSO_ALICE_APP_PASSWORD');
const LITMUS = '/usr/bin/litmus';

const NOT_ICALENDAR = 'a calendar collection stores only iCalendar objects (CALDAV:valid-calendar-data)';
const NO_NESTED_COLLECTIONS = 'a calendar collection contains no collections (CALDAV:calendar-collection-location-ok)';

// litmus test name -> the CalDAV rule that makes it fail.
const expectedFailures = {
  basic: {
    put_get: NOT_ICALENDAR,
    put_get_utf8_segment: NOT_ICALENDAR,
    delete_fragment: NO_NESTED_COLLECTIONS,
    mkcol: NO_NESTED_COLLECTIONS,
  },
  copymove: {
    copy_init: NOT_ICALENDAR,
    copy_coll: NO_NESTED_COLLECTIONS,
    copy_shallow: NO_NESTED_COLLECTIONS,
    move: NOT_ICALENDAR,
    move_coll: NO_NESTED_COLLECTIONS,
  },
  props: {
    propinit: NOT_ICALENDAR,
    propmanyns: NOT_ICALENDAR,
  },
};

// Runs one litmus suite; resolves with {name: 'pass' | 'FAIL' | 'SKIPPED'}.
async function runSuite(suite, url) {
  const work = mkdtempSync(path.join(tmpdir(), 'expresso-litmus-'));
  try {
    const { stdout } = await new Promise((resolve) => {
      execFile(LITMUS, [url, EMAIL, APP_PASSWORD], { cwd: work, env: { PATH: '/usr/bin:/bin', TESTS: suite }, timeout: 120_000 },
        (error, out, err) => resolve({ stdout: `${out}${err}`, error }));
    });
    const results = {};
    // Each line repeats "N. name....." before the outcome; a warning puts the outcome on the next line.
    for (const match of stdout.matchAll(/\d+\.\s+([a-z0-9_]+)\.+\s+(pass|FAIL|SKIPPED)/g)) results[match[1]] = match[2];
    return { results, stdout };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

let home;

test('setup: find the calendar home', async () => {
  assert.ok(existsSync(LITMUS), 'install the Debian package litmus');
  const authorization = `Basic ${Buffer.from(`${EMAIL}:${APP_PASSWORD}`).toString('base64')}`;
  const response = await fetch(`${BASE}/`, {
    method: 'PROPFIND',
    headers: { Authorization: authorization, Depth: '0', 'Content-Type': 'application/xml' },
    body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>',
  });
  const principal = (await response.text()).match(/<d:current-user-principal><d:href>([^<]*)</)[1];
  home = `${BASE}${principal.replace('/principals/', '/calendars/')}`;
});

for (const suite of Object.keys(expectedFailures)) {
  test(`litmus ${suite}: only the documented CalDAV rules fail`, async () => {
    const { results, stdout } = await runSuite(suite, home);
    assert.ok(Object.keys(results).length > 5, `litmus ran:\n${stdout}`);
    const failed = Object.keys(results).filter((name) => results[name] === 'FAIL').sort();
    const expected = Object.keys(expectedFailures[suite]).sort();
    assert.deepEqual(failed, expected, `litmus ${suite} output:\n${stdout}`);
    for (const name of ['init', 'begin', 'finish']) assert.equal(results[name], 'pass', `${suite} ${name}`);
  });
}
