// Tests run from the compiled output; every test spawns or talks to real processes, sockets and pipes.
export default {
  files: ['dist/test/**/*.test.js', '!dist/test/systemd/**', '!dist/test/peers-journal/**'],
  timeout: '120s',
  workerThreads: true,
};
