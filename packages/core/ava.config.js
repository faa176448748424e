// Unit and integration tests run from the compiled output; peers tests have their own config.
export default {
  files: ['dist/test/**/*.test.js', '!dist/test/peers/**'],
  timeout: '60s',
  workerThreads: true,
};
