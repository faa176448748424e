/* Syscall layer: plain C, no Node-API. Every function returns >= 0 or -errno.
 * Calls on the hot path (read/write/splice/tee/sendmsg/recvmsg/accept) retry EINTR here. */
#ifndef LOGWARDEN_SYS_H
#define LOGWARDEN_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Kernel limit of fds in one SCM_RIGHTS message (SCM_MAX_FD, not exported to user space). */
#define LW_MAX_FDS 253

struct lw_stat {
  uint64_t dev;
  uint64_t ino;
  int64_t size;
  uint32_t mode;
};

struct lw_cred {
  int32_t pid;
  uint32_t uid;
  uint32_t gid;
};

struct lw_recv {
  int fds[LW_MAX_FDS];
  int nfds;
  int has_cred;
  struct lw_cred cred;
  int truncated;     /* MSG_TRUNC: the datagram was longer than the buffer */
  int fds_truncated; /* MSG_CTRUNC: the kernel dropped (closed) fds or creds that did not fit */
};

int lw_close(int fd);
int lw_pipe(int fds[2], int cloexec, int nonblock);
int lw_set_pipe_size(int fd, int size);
int lw_get_pipe_size(int fd);
ssize_t lw_read(int fd, void *buf, size_t len);
ssize_t lw_write(int fd, const void *buf, size_t len);
ssize_t lw_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len);
ssize_t lw_tee(int fd_in, int fd_out, size_t len);
/* Bytes a pipe (or socket) holds unread: FIONREAD. */
int lw_pipe_bytes(int fd);
int lw_fstat(int fd, struct lw_stat *st);
int lw_fcntl_getfd(int fd);
int lw_fcntl_getfl(int fd);
int lw_set_cloexec(int fd, int on);
int lw_set_nonblock(int fd, int on);
int lw_dup(int fd, int cloexec);

int lw_memfd_create(const char *name, int cloexec, int allow_sealing);
int lw_add_seals(int fd, int seals);
int lw_get_seals(int fd);

int lw_pidfd_open(int pid);
int lw_pidfd_getfd(int pidfd, int target_fd);
int lw_execve(const char *path, char *const argv[], char *const envp[], const int *block, int nblock);
int lw_blocked_signals(const int *sigs, int n, int *blocked);

/* renameat2(AT_FDCWD, from, AT_FDCWD, to, flags): RENAME_NOREPLACE / RENAME_EXCHANGE. */
int lw_renameat2(const char *from, const char *to, unsigned flags);

int lw_socket(int type, int cloexec, int nonblock);
int lw_socketpair(int type, int cloexec, int nonblock, int fds[2]);
/* path/len: raw sun_path bytes; a leading NUL byte selects the abstract namespace. */
int lw_bind(int fd, const char *path, size_t len);
int lw_connect(int fd, const char *path, size_t len);
int lw_listen(int fd, int backlog);
int lw_accept(int fd);
ssize_t lw_sendmsg(int fd, const struct iovec *iov, int iovcnt, const int *fds, int nfds,
                   const char *path, size_t path_len);
ssize_t lw_recvmsg(int fd, void *buf, size_t len, int max_fds, struct lw_recv *out);

/* Most messages one lw_recvmmsg call takes. */
#define LW_MAX_MMSG 64

/* One message of a batch. In: where its bytes go (iov[0] first, then iov[1]; iov[1] may be
 * empty). Out: its length, credentials, flags, and its fds' place in the caller's fd array. */
struct lw_mrecv {
  struct iovec iov[2];
  size_t len;
  int fd_start;
  int nfds;
  int has_cred;
  struct lw_cred cred;
  int truncated;
  int fds_truncated;
};

/* recvmmsg(MSG_DONTWAIT|MSG_CMSG_CLOEXEC) of up to n (<= LW_MAX_MMSG) datagrams, each with its
 * own control buffer, so every message keeps its own fds and credentials. fds needs room for
 * n * max_fds entries. Returns the number of messages (>= 1) or -errno (-EAGAIN: none queued). */
int lw_recvmmsg(int fd, struct lw_mrecv *msgs, int n, int max_fds, int *fds);
int lw_setsockopt_int(int fd, int level, int name, int value);
int lw_getsockopt_int(int fd, int level, int name);
int lw_get_peer_cred(int fd, struct lw_cred *out);

#endif
