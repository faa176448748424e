/* The C reference sender of bench/journal-send.ts: what a program linking nothing but libc does,
 * like sd_journal_send(): one datagram per entry to journald's native socket, a blocking socket
 * with an 8 MiB send buffer, the address given on every sendmsg.
 *   journal-send SOCKET COUNT MARKER   prints "<seconds> <cpu-seconds>" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SOCKET COUNT MARKER\n", argv[0]);
    return 2;
  }
  long count = atol(argv[2]);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return perror("socket"), 1;
  int size = 8 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof sa.sun_path) return fprintf(stderr, "path too long\n"), 1;
  strcpy(sa.sun_path, argv[1]);
  char buf[512];
  double t0 = now();
  for (long i = 0; i < count; i++) {
    int n = snprintf(buf, sizeof buf, "MESSAGE=bench entry %ld\nPRIORITY=6\nLWBENCH=%s\n", i, argv[3]);
    struct iovec iov = {.iov_base = buf, .iov_len = (size_t)n};
    struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) return perror("sendmsg"), 1;
  }
  double t1 = now();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf("%.6f %.6f\n", t1 - t0, cpu);
  return 0;
}
