// Private expresso-drive daemons that the drive tests start next to the
// stack's own, sharing its database and storage directory.
import path from 'node:path';

import { buildDir, freePort, requireEnv, startDaemon, waitForHttp } from './stack.mjs';

export const driveBinary = path.join(buildDir, 'services', 'drive', 'expresso-drive');

// The settings that put a private expresso-drive on an S3 bucket at ENDPOINT.
export function s3StorageEnv({ endpoint, bucket, region, accessKey, secretKey }) {
  return {
    EXPRESSO_STORAGE_BACKEND: 's3',
    EXPRESSO_S3_ENDPOINT: endpoint,
    EXPRESSO_S3_BUCKET: bucket,
    EXPRESSO_S3_REGION: region,
    EXPRESSO_S3_ACCESS_KEY: accessKey,
    EXPRESSO_S3_SECRET_KEY: secretKey,
  };
}

// Starts a private expresso-drive on PORT (a free one by default) with EXTRA_ENV added to its
// environment. Resolves once /ready returns 200, with the daemon, its base URL and its port.
export async function startDrive(extraEnv = {}, port = undefined) {
  port ??= await freePort();
  const daemon = startDaemon(driveBinary, {
    EXPRESSO_HTTP_ADDRESS: '127.0.0.1',
    EXPRESSO_HTTP_PORT: String(port),
    EXPRESSO_STORAGE_DIR: path.join(requireEnv('EXPRESSO_STATE_DIR'), 'storage'),
    ...extraEnv,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/ready`, { timeoutMs: 30_000 });
  return { ...daemon, base, port };
}

// Stops DAEMON with SIGTERM, unless it has exited already, and waits for its exit.
export async function stopDrive(daemon) {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGTERM');
  await daemon.exited;
}
