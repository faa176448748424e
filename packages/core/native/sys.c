/* Syscall layer: plain C, no Node-API. Every function returns >= 0 or -errno. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include "sys.h"

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

#define RETRY_EINTR(expr) \
  ({                      \
    __typeof__(expr) r_;  \
    do {                  \
      r_ = (expr);        \
    } while (r_ < 0 && errno == EINTR); \
    r_ < 0 ? -errno : r_; \
  })

int lw_close(int fd) {
  /* Linux releases the fd even when close() reports EINTR; retrying could close a reused number. */
  if (close(fd) < 0 && errno != EINTR) return -errno;
  return 0;
}

int lw_pipe(int fds[2], int cloexec, int nonblock) {
  int flags = (cloexec ? O_CLOEXEC : 0) | (nonblock ? O_NONBLOCK : 0);
  return pipe2(fds, flags) < 0 ? -errno : 0;
}

int lw_set_pipe_size(int fd, int size) {
  int r = fcntl(fd, F_SETPIPE_SZ, size);
  return r < 0 ? -errno : r;
}

int lw_get_pipe_size(int fd) {
  int r = fcntl(fd, F_GETPIPE_SZ);
  return r < 0 ? -errno : r;
}

ssize_t lw_read(int fd, void *buf, size_t len) { return RETRY_EINTR(read(fd, buf, len)); }

ssize_t lw_write(int fd, const void *buf, size_t len) { return RETRY_EINTR(write(fd, buf, len)); }

ssize_t lw_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len) {
  loff_t in = off_in ? *off_in : 0, out = off_out ? *off_out : 0;
  ssize_t r = RETRY_EINTR(splice(fd_in, off_in ? &in : NULL, fd_out, off_out ? &out : NULL, len,
                                 SPLICE_F_NONBLOCK | SPLICE_F_MOVE));
  return r;
}

ssize_t lw_tee(int fd_in, int fd_out, size_t len) {
  return RETRY_EINTR(tee(fd_in, fd_out, len, SPLICE_F_NONBLOCK));
}

int lw_pipe_bytes(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) < 0 ? -errno : n;
}

int lw_fstat(int fd, struct lw_stat *st) {
  struct stat s;
  if (fstat(fd, &s) < 0) return -errno;
  st->dev = s.st_dev;
  st->ino = s.st_ino;
  st->size = s.st_size;
  st->mode = s.st_mode;
  return 0;
}

int lw_fcntl_getfd(int fd) {
  int r = fcntl(fd, F_GETFD);
  return r < 0 ? -errno : r;
}

int lw_fcntl_getfl(int fd) {
  int r = fcntl(fd, F_GETFL);
  return r < 0 ? -errno : r;
}

int lw_set_cloexec(int fd, int on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return -errno;
  int next = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (next != flags && fcntl(fd, F_SETFD, next) < 0) return -errno;
  return 0;
}

int lw_set_nonblock(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  int next = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (next != flags && fcntl(fd, F_SETFL, next) < 0) return -errno;
  return 0;
}

int lw_dup(int fd, int cloexec) {
  int r = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
  return r < 0 ? -errno : r;
}

int lw_memfd_create(const char *name, int cloexec, int allow_sealing) {
  unsigned flags = (cloexec ? MFD_CLOEXEC : 0) | (allow_sealing ? MFD_ALLOW_SEALING : 0);
  int r = memfd_create(name, flags);
  return r < 0 ? -errno : r;
}

int lw_add_seals(int fd, int seals) { return fcntl(fd, F_ADD_SEALS, seals) < 0 ? -errno : 0; }

int lw_get_seals(int fd) {
  int r = fcntl(fd, F_GET_SEALS);
  return r < 0 ? -errno : r;
}

/* Raw syscalls: glibc grew these wrappers only in 2.36. pidfds are always close-on-exec. */
int lw_pidfd_open(int pid) {
  long r = syscall(SYS_pidfd_open, pid, PIDFD_NONBLOCK);
  return r < 0 ? -errno : (int)r;
}

int lw_pidfd_getfd(int pidfd, int target_fd) {
  long r = syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
  return r < 0 ? -errno : (int)r;
}

/* Node marks every inherited fd, stdio included, close-on-exec at startup
 * (uv_disable_stdio_inheritance); the new image must keep 0-2, so clear the flag there and put
 * it back if execve fails. Signals in `block` stay blocked across the exec (the mask survives
 * execve), so one arriving before the new image has its handlers is held pending instead of
 * taking its default action (termination); the mask is restored if execve fails. */
int lw_execve(const char *path, char *const argv[], char *const envp[], const int *block, int nblock) {
  sigset_t set, old;
  sigemptyset(&set);
  for (int i = 0; i < nblock; i++) sigaddset(&set, block[i]);
  int saved[3];
  for (int fd = 0; fd < 3; fd++) {
    saved[fd] = fcntl(fd, F_GETFD);
    if (saved[fd] >= 0 && (saved[fd] & FD_CLOEXEC)) fcntl(fd, F_SETFD, saved[fd] & ~FD_CLOEXEC);
  }
  pthread_sigmask(SIG_BLOCK, &set, &old);
  execve(path, argv, envp);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  for (int fd = 0; fd < 3; fd++) {
    if (saved[fd] >= 0 && (saved[fd] & FD_CLOEXEC)) fcntl(fd, F_SETFD, saved[fd]);
  }
  return -err;
}

int lw_blocked_signals(const int *sigs, int n, int *blocked) {
  sigset_t cur;
  int r = pthread_sigmask(SIG_BLOCK, NULL, &cur);
  if (r != 0) return -r;
  for (int i = 0; i < n; i++) blocked[i] = sigismember(&cur, sigs[i]) == 1;
  return 0;
}

int lw_renameat2(const char *from, const char *to, unsigned flags) {
  long r = syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
  return r < 0 ? -errno : 0;
}

int lw_socket(int type, int cloexec, int nonblock) {
  int flags = (cloexec ? SOCK_CLOEXEC : 0) | (nonblock ? SOCK_NONBLOCK : 0);
  int r = socket(AF_UNIX, type | flags, 0);
  return r < 0 ? -errno : r;
}

int lw_socketpair(int type, int cloexec, int nonblock, int fds[2]) {
  int flags = (cloexec ? SOCK_CLOEXEC : 0) | (nonblock ? SOCK_NONBLOCK : 0);
  return socketpair(AF_UNIX, type | flags, 0, fds) < 0 ? -errno : 0;
}

/* Fills a sockaddr_un; pathname sockets get a terminating NUL when it fits, abstract ones never. */
static int make_addr(struct sockaddr_un *sa, socklen_t *salen, const char *path, size_t len) {
  if (len == 0) return -EINVAL;
  if (len > sizeof(sa->sun_path)) return -ENAMETOOLONG;
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, len);
  size_t used = len;
  if (path[0] != '\0' && len < sizeof(sa->sun_path)) used++;
  *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + used);
  return 0;
}

int lw_bind(int fd, const char *path, size_t len) {
  struct sockaddr_un sa;
  socklen_t salen;
  int r = make_addr(&sa, &salen, path, len);
  if (r < 0) return r;
  return bind(fd, (struct sockaddr *)&sa, salen) < 0 ? -errno : 0;
}

int lw_connect(int fd, const char *path, size_t len) {
  struct sockaddr_un sa;
  socklen_t salen;
  int r = make_addr(&sa, &salen, path, len);
  if (r < 0) return r;
  return connect(fd, (struct sockaddr *)&sa, salen) < 0 ? -errno : 0;
}

int lw_listen(int fd, int backlog) { return listen(fd, backlog) < 0 ? -errno : 0; }

int lw_accept(int fd) { return RETRY_EINTR(accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)); }

ssize_t lw_sendmsg(int fd, const struct iovec *iov, int iovcnt, const int *fds, int nfds,
                   const char *path, size_t path_len) {
  struct msghdr msg;
  struct sockaddr_un sa;
  union {
    char buf[CMSG_SPACE(sizeof(int) * LW_MAX_FDS)];
    struct cmsghdr align;
  } control;
  memset(&msg, 0, sizeof(msg));
  if (path_len > 0) {
    socklen_t salen;
    int r = make_addr(&sa, &salen, path, path_len);
    if (r < 0) return r;
    msg.msg_name = &sa;
    msg.msg_namelen = salen;
  }
  msg.msg_iov = (struct iovec *)iov;
  msg.msg_iovlen = (size_t)iovcnt;
  if (nfds > 0) {
    if (nfds > LW_MAX_FDS) return -ETOOMANYREFS;
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  return RETRY_EINTR(sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT));
}

/* Space for one message's control data: up to max_fds fds and one ucred. Sized to max_fds so that
 * extra fds are refused by the kernel (MSG_CTRUNC), never leaked. */
static size_t control_space(int max_fds) {
  return (max_fds > 0 ? CMSG_SPACE(sizeof(int) * (size_t)max_fds) : 0) + CMSG_SPACE(sizeof(struct ucred));
}

/* Takes fds and credentials out of a received message's control data; fds beyond max_fds (which
 * the kernel should have refused already) are closed and reported as truncation. */
static void take_control(struct msghdr *msg, int max_fds, int *fds, int *nfds, int *has_cred,
                         struct lw_cred *cred, int *fds_truncated) {
  *nfds = 0;
  *has_cred = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char *p = CMSG_DATA(c);
      for (size_t i = 0; i < count; i++) {
        int received;
        memcpy(&received, p + i * sizeof(int), sizeof(int));
        if (*nfds < max_fds) {
          fds[(*nfds)++] = received;
        } else {
          close(received);
          *fds_truncated = 1;
        }
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
      struct ucred uc;
      memcpy(&uc, CMSG_DATA(c), sizeof(uc));
      *has_cred = 1;
      cred->pid = uc.pid;
      cred->uid = uc.uid;
      cred->gid = uc.gid;
    }
  }
}

ssize_t lw_recvmsg(int fd, void *buf, size_t len, int max_fds, struct lw_recv *out) {
  struct msghdr msg;
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int) * LW_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } control;
  if (max_fds > LW_MAX_FDS) max_fds = LW_MAX_FDS;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = control_space(max_fds);
  ssize_t n = RETRY_EINTR(recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
  if (n < 0) return n;
  out->truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  out->fds_truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  take_control(&msg, max_fds, out->fds, &out->nfds, &out->has_cred, &out->cred, &out->fds_truncated);
  return n;
}

/* Control buffers of this many bytes in all live on the stack; larger batches use the heap. */
#define MMSG_STACK_CONTROL 16384

int lw_recvmmsg(int fd, struct lw_mrecv *msgs, int n, int max_fds, int *fds) {
  struct mmsghdr hdrs[LW_MAX_MMSG];
  union {
    char buf[MMSG_STACK_CONTROL];
    struct cmsghdr align;
  } stack_control;
  if (n < 1 || n > LW_MAX_MMSG) return -EINVAL;
  if (max_fds > LW_MAX_FDS) max_fds = LW_MAX_FDS;
  if (max_fds < 0) max_fds = 0;
  /* CMSG_SPACE keeps every slot aligned for a cmsghdr. */
  size_t space = control_space(max_fds);
  char *control = stack_control.buf;
  if (space * (size_t)n > sizeof(stack_control.buf) && (control = malloc(space * (size_t)n)) == NULL) return -ENOMEM;
  memset(hdrs, 0, sizeof(struct mmsghdr) * (size_t)n);
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &hdrs[i].msg_hdr;
    h->msg_iov = msgs[i].iov;
    h->msg_iovlen = msgs[i].iov[1].iov_len > 0 ? 2 : 1;
    h->msg_control = control + space * (size_t)i;
    h->msg_controllen = space;
  }
  int r = RETRY_EINTR(recvmmsg(fd, hdrs, (unsigned)n, MSG_CMSG_CLOEXEC | MSG_DONTWAIT, NULL));
  for (int i = 0; i < r; i++) {
    struct msghdr *h = &hdrs[i].msg_hdr;
    struct lw_mrecv *m = &msgs[i];
    m->len = hdrs[i].msg_len;
    m->fd_start = i * max_fds;
    m->truncated = (h->msg_flags & MSG_TRUNC) != 0;
    m->fds_truncated = (h->msg_flags & MSG_CTRUNC) != 0;
    take_control(h, max_fds, fds + m->fd_start, &m->nfds, &m->has_cred, &m->cred, &m->fds_truncated);
  }
  if (control != stack_control.buf) free(control);
  return r;
}

int lw_setsockopt_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

int lw_getsockopt_int(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) < 0) return -errno;
  return value;
}

int lw_get_peer_cred(int fd, struct lw_cred *out) {
  struct ucred uc;
  socklen_t len = sizeof(uc);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) return -errno;
  out->pid = uc.pid;
  out->uid = uc.uid;
  out->gid = uc.gid;
  return 0;
}
