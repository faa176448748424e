// Tests against a real systemd (PID 1 of a systemd-nspawn container): one container at a time.
export default {
  files: ['dist/test/systemd/**/*.test.js', 'dist/test/peers-journal/**/*.test.js'],
  timeout: '180s',
  concurrency: 1,
  workerThreads: false,
};
