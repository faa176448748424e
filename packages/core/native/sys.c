#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "sys.h"

int lw_pipe(int fds[2], int cloexec, int nonblock) {
  int flags = (cloexec ? O_CLOEXEC : 0) | (nonblock ? O_NONBLOCK : 0);
  return pipe2(fds, flags) < 0 ? -errno : 0;
}
