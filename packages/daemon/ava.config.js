// Tests run from the compiled output; every test spawns or talks to real processes, sockets and pipes.
// Each test file gets its own process (not a worker thread): the files hand fds to children and close
// them, and in one shared fd table a stray close in one file can hit an fd another file is using
// (seen as ESM loader failures reading a reused fd under load).
export default {
  files: ['dist/test/**/*.test.js', '!dist/test/systemd/**', '!dist/test/peers-journal/**'],
  timeout: '120s',
  workerThreads: false,
};
