/* Syscall layer: plain C, no Node-API. Every function returns >= 0 or -errno. */
#ifndef LOGWARDEN_SYS_H
#define LOGWARDEN_SYS_H
int lw_pipe(int fds[2], int cloexec, int nonblock);
#endif
