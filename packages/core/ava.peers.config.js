// Interop tests against real peers (journald, journalctl, systemd-journal-remote).
export default {
  files: ['dist/test/peers/**/*.test.js'],
  timeout: '120s',
  concurrency: 1,
  workerThreads: false,
};
