// Tests run from the compiled output against real RpcServers, sockets, pipes, files and processes.
export default {
  files: ['dist/test/**/*.test.js'],
  timeout: '120s',
  workerThreads: true,
};
