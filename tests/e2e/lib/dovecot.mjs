// A private Dovecot IMAP server (Debian's dovecot-imapd) for tests that
// compare its answers with expresso-mail's: a throwaway configuration and
// Maildir in a directory of the test's own, one loopback listener without
// TLS, any user name with one password, and no system service touched.
// As root the mail processes run as nobody, because Dovecot refuses mail
// access with UID 0; otherwise every process runs as the current user.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DOVECOT_PASSWORD = 'dovecot-test-password';
const START_TIMEOUT_MS = 15_000;

function userId(name, flag) {
  return Number(execFileSync('id', [flag, name]).toString().trim());
}

export async function startDovecot(directory, port) {
  const binary = ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].find((candidate) => existsSync(candidate));
  if (!binary) throw new Error('dovecot is not installed: install the Debian package dovecot-imapd');
  if (!existsSync('/usr/lib/dovecot/imap')) throw new Error('Dovecot has no IMAP server: install dovecot-imapd');

  rmSync(directory, { recursive: true, force: true });
  for (const sub of ['run', 'state', 'mail']) mkdirSync(path.join(directory, sub), { recursive: true });
  chmodSync(directory, 0o755);

  const root = process.getuid() === 0;
  const me = os.userInfo().username;
  const loginUser = root ? 'dovenull' : me;
  const internalUser = root ? 'dovecot' : me;
  const mailUser = root ? 'nobody' : me;
  const mailUid = userId(mailUser, '-u');
  const mailGid = userId(mailUser, '-g');
  if (root) chownSync(path.join(directory, 'mail'), mailUid, mailGid);

  const config = `# Written by tests/e2e/lib/dovecot.mjs for one test run.
base_dir = ${directory}/run
state_dir = ${directory}/state
log_path = ${directory}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = ${loginUser}
default_internal_user = ${internalUser}
mail_location = maildir:${directory}/mail/%u
first_valid_uid = 1
passdb {
  driver = static
  args = password=${DOVECOT_PASSWORD}
}
userdb {
  driver = static
  args = uid=${mailUid} gid=${mailGid} home=${directory}/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`;
  const configPath = path.join(directory, 'dovecot.conf');
  writeFileSync(configPath, config);

  const child = spawn(binary, ['-F', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  const deadline = Date.now() + START_TIMEOUT_MS;
  const log = path.join(directory, 'dovecot.log');
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`dovecot exited: ${output}`);
    if (existsSync(log) && readFileSync(log, 'utf8').includes('starting up')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
