// Structured log: one JSON object per line on stderr. Never pass a token,
// password, cookie or authorization code in `fields`.

export function log(level, event, fields = {}) {
  const line = {
    time: new Date().toISOString(),
    level,
    service: 'dev-oidc',
    event,
    ...fields,
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

// oidc-provider prints its notices with console.warn and console.info, some
// while it is imported; this turns them into log lines. Import this module
// before oidc-provider.
for (const [method, level] of [['warn', 'warn'], ['info', 'info']]) {
  console[method] = (...args) => {
    log(level, 'library_notice', { message: args.map(String).join(' ') });
  };
}
