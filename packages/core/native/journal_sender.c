/* JournalSender: one native thread per JournalClient that feeds journald's native datagram socket.
 *
 * journald keeps only net.unix.max_dgram_qlen (10) datagrams queued, so a sender waits on it all
 * the time. A thread of our own waits the way a blocking C sender does (poll() on the socket, woken
 * by the kernel the moment journald takes a datagram) instead of going round the event loop, and
 * hands back completions in batches (one JS callback per batch). It is a pthread of its own, not
 * libuv's shared threadpool: it blocks for as long as journald is slow and must not starve fs work.
 *
 * Entries arrive already encoded, copied into one malloc'd block per push (a batch), so no JS
 * memory is touched off the main thread. They leave in order, several per sendmmsg when the queue
 * has room. Errors other than EAGAIN: a refused connection (journald restarted) reconnects once; an
 * entry too big for a datagram travels as a sealed memfd; anything else fails that entry alone.
 *
 * Lifetime: the thread is joined by close(), by the env cleanup hook (worker exit) and, at the
 * latest, by the finalizers. The struct is freed once both the JS object and the threadsafe
 * function are finalized. */
#include "journal_sender.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include "napi_util.h"
#include "sys.h"

/* Most datagrams one sendmmsg offers the kernel, and iovecs they may use together. */
#define MSGS_MAX 64
#define IOVS_MAX 1024
/* Entries waiting together share a datagram up to this size (journald reads them one by one);
 * one datagram instead of many spares journald a receive, a credentials lookup and a wakeup per
 * entry (bench/journal-send.ts). Kept small enough for the kernel to allocate it linearly. */
#define COALESCE_BYTES (16 * 1024)
/* Completions are reported when the queue runs empty (a caller is likely waiting) or once this
 * many piled up, so a busy pipeline wakes the event loop once per batch, not per entry. */
#define REPORT_EVERY 64
/* ...and at the latest this long after the thread started waiting on a full socket with
 * completions unreported (journald stalled: entries it took must still resolve). */
#define REPORT_LATENCY_MS 1
#define THREAD_STACK (256 * 1024)
/* Failed entries one report holds; a thread with more waits for the main thread to take them. */
#define FAILS_MAX 64

/* Which syscall failed, as reported to JS (src/journal/native-sender.ts maps these to names). */
enum { SYS_SENDMSG, SYS_CONNECT, SYS_MEMFD_CREATE, SYS_WRITE, SYS_FCNTL };

typedef struct batch {
  struct batch *next;
  uint32_t count;
  uint32_t *lens;
  uint8_t *data;
} batch_t;

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t thread;
  int fd;
  int efd;               /* written once by close: wakes the thread out of poll() */
  size_t coalesce_bytes; /* largest shared datagram: COALESCE_BYTES, less on a small send buffer */
  char *path;
  size_t path_len;

  /* Guarded by lock. */
  batch_t *head, *tail;
  int stop;
  int notify_pending;
  uint64_t done, sent, via_memfd, waits; /* since the last report */
  int32_t fails[3 * FAILS_MAX];          /* (index within done, errno, syscall) triples */
  size_t nfails;

  /* The thread's own cursor into head. */
  uint32_t pos;
  size_t off;

  /* Main thread only. */
  napi_env env;
  napi_threadsafe_function tsfn;
  uint64_t pushed, reported;
  int running; /* thread started, not yet joined */
  int closed;
  int hooked;
  int refd;
  int object_gone;
  int tsfn_gone;
} sender_t;

/* ---------- helpers ---------- */

static int get_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p;
  if (v == NULL || napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok ||
      (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array))
    return 0;
  *data = p;
  return 1;
}

/* ---------- the thread ---------- */

static int stopping(sender_t *s) { return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE); }

static void notify(sender_t *s) {
  /* Non-blocking with an unbounded queue: never waits on the main thread. Fails only while the
   * environment shuts down, when nobody listens anymore. */
  napi_call_threadsafe_function(s->tsfn, NULL, napi_tsfn_nonblocking);
}

/* Records finished entries (err: 0, or the errno of the one failed entry; the caller made room
 * for it). Call with lock held; returns whether the main thread must be told now. */
static int complete_locked(sender_t *s, uint32_t n, int memfd, int err, int sys, int queue_empty) {
  if (err != 0) {
    s->fails[s->nfails++] = (int32_t)s->done;
    s->fails[s->nfails++] = err;
    s->fails[s->nfails++] = sys;
  } else {
    s->sent += n;
    if (memfd) s->via_memfd += n;
  }
  s->done += n;
  if (s->notify_pending || !(queue_empty || s->done >= REPORT_EVERY || err != 0)) return 0;
  s->notify_pending = 1;
  return 1;
}

/* Waits until the socket may take a datagram (or poll says something else is up: the next send
 * tells). Returns -1 when the sender is stopping. */
static int wait_writable(sender_t *s) {
  struct pollfd p[2] = {{.fd = s->fd, .events = POLLOUT}, {.fd = s->efd, .events = POLLIN}};
  pthread_mutex_lock(&s->lock);
  s->waits++;
  int late = s->done > 0 && !s->notify_pending;
  pthread_mutex_unlock(&s->lock);
  int timeout = late ? REPORT_LATENCY_MS : -1;
  for (;;) {
    int r = poll(p, 2, timeout);
    if (r == 0) {
      pthread_mutex_lock(&s->lock);
      int tell = s->done > 0 && !s->notify_pending;
      if (tell) s->notify_pending = 1;
      pthread_mutex_unlock(&s->lock);
      if (tell) notify(s);
      timeout = -1;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    break;
  }
  /* A pending socket error would make poll() return at once forever: reading it clears it (the
   * next send reports what still holds). */
  if (p[0].revents & POLLERR) lw_getsockopt_int(s->fd, SOL_SOCKET, SO_ERROR);
  return stopping(s) ? -1 : 0;
}

/* One sendmsg that waits out EAGAIN and reconnects once if journald was restarted (its old socket
 * is gone, a new one sits at the path). 0, -ECANCELED when stopping, or -errno (*sys says where). */
static int send_waiting(sender_t *s, const struct iovec *iov, int iovcnt, const int *fds, int nfds, int *sys) {
  int reconnected = 0;
  for (;;) {
    ssize_t r = lw_sendmsg(s->fd, iov, iovcnt, fds, nfds, NULL, 0);
    if (r >= 0) return 0;
    if (r == -EAGAIN) {
      if (wait_writable(s) < 0) return -ECANCELED;
      continue;
    }
    if ((r == -ECONNREFUSED || r == -ENOTCONN) && !reconnected) {
      reconnected = 1;
      int c = lw_connect(s->fd, s->path, s->path_len);
      if (c < 0) {
        *sys = SYS_CONNECT;
        return c;
      }
      continue;
    }
    *sys = SYS_SENDMSG;
    return (int)r;
  }
}

/* An entry too big for a datagram: journald maps a sealed memfd sent with an empty payload. */
static int send_memfd(sender_t *s, const uint8_t *data, size_t len, int *sys) {
  int mfd = lw_memfd_create("journal-entry", 1, 1);
  if (mfd < 0) {
    *sys = SYS_MEMFD_CREATE;
    return mfd;
  }
  int r = 0;
  for (size_t done = 0; done < len;) {
    ssize_t w = lw_write(mfd, data + done, len - done);
    if (w < 0) {
      *sys = SYS_WRITE;
      r = (int)w;
      break;
    }
    done += (size_t)w;
  }
  if (r == 0 && (r = lw_add_seals(mfd, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) < 0) *sys = SYS_FCNTL;
  if (r == 0) r = send_waiting(s, NULL, 0, &mfd, 1, sys);
  lw_close(mfd);
  return r;
}

/* The entry sendmmsg refused with something other than EAGAIN. 0 sent, 1 sent as a memfd,
 * -ECANCELED when stopping, or -errno. */
static int send_slow(sender_t *s, const uint8_t *data, size_t len, int *sys) {
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  int r = send_waiting(s, &iov, 1, NULL, 0, sys);
  /* EMSGSIZE: over the send buffer; ENOBUFS: the kernel cannot allocate a datagram this big
   * (> 4 MiB fails even with a 16 MiB buffer). sd-journal falls back on both too. */
  if (r == -EMSGSIZE || r == -ENOBUFS) {
    r = send_memfd(s, data, len, sys);
    return r < 0 ? r : 1;
  }
  return r;
}

/* Length of entry i of b (the ALONE flag stripped). */
static size_t entry_len(const batch_t *b, uint32_t i) { return b->lens[i] & ~LW_JOURNAL_ALONE; }

/* Marks n entries from the head as finished, freeing batches that are done. Lock held. Returns
 * whether the queue is now empty. */
static int consume_locked(sender_t *s, uint32_t n) {
  while (n > 0) {
    batch_t *b = s->head;
    uint32_t take = b->count - s->pos;
    if (take > n) take = n;
    for (uint32_t i = 0; i < take; i++) s->off += entry_len(b, s->pos + i);
    s->pos += take;
    n -= take;
    if (s->pos == b->count) {
      s->head = b->next;
      if (s->head == NULL) s->tail = NULL;
      s->pos = 0;
      s->off = 0;
      free(b);
    }
  }
  return s->head == NULL;
}

typedef struct {
  const batch_t *b;
  uint32_t pos;
  size_t off;
} cursor_t;

static void cursor_next(cursor_t *c) {
  c->off += entry_len(c->b, c->pos);
  if (++c->pos < c->b->count) return;
  /* The producer publishes a batch's link with release order once it is complete. */
  c->b = __atomic_load_n(&c->b->next, __ATOMIC_ACQUIRE);
  c->pos = 0;
  c->off = 0;
}

static const char separator = '\n';

/* Lays out up to MSGS_MAX datagrams from the queue's head: entries already waiting share a
 * datagram (separated by an empty line, which journald reads as the end of an entry) up to
 * COALESCE_BYTES, unless flagged to travel alone. Returns the number of datagrams; per[i] says
 * how many entries datagram i holds. */
static int lay_out(sender_t *s, cursor_t c, struct mmsghdr *msgs, struct iovec *iovs, uint32_t *per) {
  int nmsg = 0, niov = 0;
  while (c.b != NULL && nmsg < MSGS_MAX && niov < IOVS_MAX) {
    struct mmsghdr *m = &msgs[nmsg];
    int alone = (c.b->lens[c.pos] & LW_JOURNAL_ALONE) != 0;
    size_t bytes = entry_len(c.b, c.pos);
    m->msg_hdr.msg_iov = &iovs[niov];
    iovs[niov].iov_base = c.b->data + c.off;
    iovs[niov++].iov_len = bytes;
    uint32_t k = 1;
    cursor_next(&c);
    while (!alone && c.b != NULL && niov + 2 <= IOVS_MAX) {
      size_t len = entry_len(c.b, c.pos);
      if ((c.b->lens[c.pos] & LW_JOURNAL_ALONE) != 0 || bytes + 1 + len > s->coalesce_bytes) break;
      iovs[niov].iov_base = (void *)&separator;
      iovs[niov++].iov_len = 1;
      iovs[niov].iov_base = c.b->data + c.off;
      iovs[niov++].iov_len = len;
      bytes += 1 + len;
      k++;
      cursor_next(&c);
    }
    m->msg_hdr.msg_iovlen = (size_t)(&iovs[niov] - m->msg_hdr.msg_iov);
    per[nmsg++] = k;
  }
  return nmsg;
}

static void *sender_main(void *arg) {
  sender_t *s = arg;
  struct mmsghdr msgs[MSGS_MAX];
  struct iovec iovs[IOVS_MAX];
  uint32_t per[MSGS_MAX];
  memset(msgs, 0, sizeof(msgs));
  int full = 0; /* the last sendmmsg stopped short: the socket is full, wait before trying */
  pthread_mutex_lock(&s->lock);
  for (;;) {
    while (!s->stop && s->head == NULL) pthread_cond_wait(&s->cond, &s->lock);
    if (s->stop) break;
    cursor_t c = {s->head, s->pos, s->off};
    pthread_mutex_unlock(&s->lock);

    if (full) {
      full = 0;
      wait_writable(s);
      pthread_mutex_lock(&s->lock);
      continue;
    }
    int nmsg = lay_out(s, c, msgs, iovs, per);
    int r = sendmmsg(s->fd, msgs, (unsigned)nmsg, MSG_NOSIGNAL | MSG_DONTWAIT);
    uint32_t finished = 0;
    int memfd = 0, err = 0, sys = SYS_SENDMSG;
    if (r > 0) {
      for (int i = 0; i < r; i++) finished += per[i];
      /* Short of what was offered: the next datagram met EAGAIN (or an error the next call sees). */
      full = r < nmsg;
    } else if (errno == EAGAIN) {
      wait_writable(s);
    } else if (errno != EINTR) {
      /* Whatever the datagram held, its first entry now goes alone, the slow way. */
      int x = send_slow(s, c.b->data + c.off, entry_len(c.b, c.pos), &sys);
      if (x != -ECANCELED) {
        finished = 1;
        if (x < 0) err = -x;
        memfd = x == 1;
      }
    }

    pthread_mutex_lock(&s->lock);
    if (finished == 0) continue;
    /* A failure is never reported as a success: with the list full, wait until it was taken. */
    while (err != 0 && s->nfails == 3 * FAILS_MAX && !s->stop) pthread_cond_wait(&s->cond, &s->lock);
    if (err != 0 && s->nfails == 3 * FAILS_MAX) break;
    int empty = consume_locked(s, finished);
    if (complete_locked(s, finished, memfd, err, sys, empty)) {
      pthread_mutex_unlock(&s->lock);
      notify(s);
      pthread_mutex_lock(&s->lock);
    }
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* ---------- main thread: lifetime ---------- */

static void free_batches(sender_t *s) {
  while (s->head != NULL) {
    batch_t *b = s->head;
    s->head = b->next;
    free(b);
  }
  s->tail = NULL;
  s->pos = 0;
  s->off = 0;
}

/* Stops and joins the thread; what it did not send stays unreported (the caller fails it). */
static void stop_thread(sender_t *s) {
  if (!s->running) return;
  pthread_mutex_lock(&s->lock);
  __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  uint64_t one = 1;
  while (write(s->efd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  pthread_join(s->thread, NULL);
  s->running = 0;
  free_batches(s);
}

static void destroy(sender_t *s) {
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  if (s->efd >= 0) lw_close(s->efd);
  free(s->path);
  free(s);
}

static void env_cleanup(void *arg) {
  sender_t *s = arg;
  s->hooked = 0;
  s->closed = 1;
  stop_thread(s);
}

static void close_sender(sender_t *s) {
  if (s->closed) return;
  s->closed = 1;
  stop_thread(s);
  if (s->hooked) napi_remove_env_cleanup_hook(s->env, env_cleanup, s);
  s->hooked = 0;
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  sender_t *s = data;
  /* Normally joined already (close or the cleanup hook, which runs first); the thread must never
   * call a finalized threadsafe function. */
  stop_thread(s);
  s->tsfn_gone = 1;
  if (s->object_gone) destroy(s);
}

static void object_finalize(napi_env env, void *data, void *hint) {
  sender_t *s = data;
  s->object_gone = 1;
  if (!s->closed) close_sender(s);
  if (s->tsfn_gone) destroy(s);
}

/* ---------- main thread: reports ---------- */

/* [done, sent, viaMemfd, waits, (index, errno, syscall)...] since the last report, or null. */
static napi_value take_report(napi_env env, sender_t *s) {
  napi_value arr = NULL;
  int32_t fails[3 * FAILS_MAX];
  pthread_mutex_lock(&s->lock);
  uint64_t done = s->done, sent = s->sent, via = s->via_memfd, waits = s->waits;
  size_t nfails = s->nfails;
  s->notify_pending = 0;
  if (done == 0 && waits == 0) {
    pthread_mutex_unlock(&s->lock);
    napi_get_null(env, &arr);
    return arr;
  }
  memcpy(fails, s->fails, sizeof(int32_t) * nfails);
  s->done = s->sent = s->via_memfd = s->waits = 0;
  s->nfails = 0;
  if (nfails == 3 * FAILS_MAX) pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);

  s->reported += done;
  if (s->refd && !s->closed && s->reported == s->pushed) {
    napi_unref_threadsafe_function(env, s->tsfn);
    s->refd = 0;
  }
  double head[4] = {(double)done, (double)sent, (double)via, (double)waits};
  if (napi_create_array_with_length(env, 4 + nfails, &arr) != napi_ok) return NULL;
  for (uint32_t i = 0; i < 4; i++) {
    napi_value v;
    if (napi_create_double(env, head[i], &v) == napi_ok) napi_set_element(env, arr, i, v);
  }
  for (size_t i = 0; i < nfails; i++) {
    napi_value v;
    if (napi_create_int32(env, fails[i], &v) == napi_ok) napi_set_element(env, arr, (uint32_t)(4 + i), v);
  }
  return arr;
}

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  sender_t *s = context;
  if (env == NULL || cb == NULL || s->closed) return;
  napi_value report = take_report(env, s), recv;
  napi_valuetype t;
  if (report == NULL || napi_typeof(env, report, &t) != napi_ok || t == napi_null) return;
  napi_get_undefined(env, &recv);
  napi_call_function(env, recv, cb, 1, &report, NULL);
}

/* ---------- JS methods ---------- */

static sender_t *unwrap(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  napi_value self;
  sender_t *s = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  for (size_t i = argc; i < n; i++) argv[i] = NULL;
  if (napi_unwrap(env, self, (void **)&s) != napi_ok || s == NULL) {
    throw_type(env, "not a JournalSender");
    return NULL;
  }
  return s;
}

/* new JournalSender(fd, path, onReport): starts the thread. */
static napi_value js_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self, target, name;
  napi_valuetype t;
  int32_t fd;
  size_t path_len;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_get_new_target(env, info, &target) != napi_ok || target == NULL)
    return throw_type(env, "JournalSender must be called with new");
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0)
    return throw_type(env, "fd must be a non-negative integer");
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &path_len) != napi_ok || path_len == 0)
    return throw_type(env, "path must be a non-empty string");
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function)
    return throw_type(env, "onReport must be a function");

  sender_t *s = calloc(1, sizeof(*s));
  char *path = malloc(path_len + 1);
  if (s == NULL || path == NULL) {
    free(s);
    free(path);
    return throw_sys(env, -ENOMEM, "malloc");
  }
  napi_get_value_string_utf8(env, argv[1], path, path_len + 1, &path_len);
  s->fd = fd;
  /* The kernel refuses a datagram over the send buffer (less its bookkeeping): a shared one must
   * not fail where its entries alone would pass. */
  int sndbuf = lw_getsockopt_int(fd, SOL_SOCKET, SO_SNDBUF);
  s->coalesce_bytes = sndbuf > 0 && (size_t)sndbuf / 4 < COALESCE_BYTES ? (size_t)sndbuf / 4 : COALESCE_BYTES;
  s->path = path;
  s->path_len = path_len;
  s->env = env;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->efd < 0) {
    int e = errno;
    destroy(s);
    return throw_sys(env, -e, "eventfd");
  }
  if (napi_create_string_utf8(env, "JournalSender", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, s, tsfn_finalize, s, call_js, &s->tsfn) != napi_ok) {
    destroy(s);
    return throw_sys(env, -ENOMEM, "napi_create_threadsafe_function");
  }
  /* Idle senders must not keep the process alive; push() refs it while entries are in flight. */
  napi_unref_threadsafe_function(env, s->tsfn);

  /* Signals belong to the main thread (libuv's handlers); this thread blocks them all. */
  pthread_attr_t attr;
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(&s->thread, &attr, sender_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    s->closed = 1;
    s->object_gone = 1; /* no JS object will own it: tsfn_finalize frees it */
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    return throw_sys(env, -e, "pthread_create");
  }
  pthread_setname_np(s->thread, "lw-journal");
  s->running = 1;
  /* Registered after the threadsafe function: cleanup hooks run in reverse order, so the thread is
   * joined before Node closes the function it calls. */
  if (napi_add_env_cleanup_hook(env, env_cleanup, s) == napi_ok) s->hooked = 1;
  if (napi_wrap(env, self, s, object_finalize, NULL, NULL) != napi_ok) {
    close_sender(s);
    s->object_gone = 1;
    return throw_sys(env, -ENOMEM, "napi_wrap");
  }
  return self;
}

/* Hands b to the thread, which may free it as soon as the lock is released. */
static napi_value enqueue(napi_env env, sender_t *s, batch_t *b) {
  s->pushed += b->count;
  pthread_mutex_lock(&s->lock);
  if (s->tail != NULL)
    __atomic_store_n(&s->tail->next, b, __ATOMIC_RELEASE); /* the thread may follow it unlocked */
  else
    s->head = b;
  s->tail = b;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  if (!s->refd) {
    napi_ref_threadsafe_function(env, s->tsfn);
    s->refd = 1;
  }
  return undefined(env);
}

static batch_t *new_batch(napi_env env, uint32_t count, size_t bytes) {
  batch_t *b = malloc(sizeof(*b) + sizeof(uint32_t) * count + bytes);
  if (b == NULL) {
    throw_sys(env, -ENOMEM, "malloc");
    return NULL;
  }
  b->next = NULL;
  b->count = count;
  b->lens = (uint32_t *)(b + 1);
  b->data = (uint8_t *)(b->lens + count);
  return b;
}

/* push(data, lengths: Uint32Array, count): count entries laid end to end in data, copied. A length
 * may carry JournalSender.ALONE. */
static napi_value js_push(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  sender_t *s = unwrap(env, info, 3, argv);
  const uint8_t *data;
  size_t size, nlens;
  void *lens_p;
  napi_typedarray_type type;
  bool is_ta = false;
  uint32_t count;
  if (s == NULL) return NULL;
  if (s->closed) {
    napi_throw_error(env, "LW_ERR_NATIVE_SOCKET_CLOSED", "JournalSender is closed");
    return NULL;
  }
  if (!get_bytes(env, argv[0], &data, &size)) return throw_type(env, "data must be a Uint8Array");
  if (argv[1] == NULL || napi_is_typedarray(env, argv[1], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[1], &type, &nlens, &lens_p, NULL, NULL) != napi_ok || type != napi_uint32_array)
    return throw_type(env, "lengths must be a Uint32Array");
  if (argv[2] == NULL || napi_get_value_uint32(env, argv[2], &count) != napi_ok || count == 0 || count > nlens)
    return throw_range(env, "count must be an integer in [1, lengths.length]");
  const uint32_t *lens = lens_p;
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) total += lens[i] & ~LW_JOURNAL_ALONE;
  if (total > size) return throw_range(env, "the lengths add up to more than data holds");
  batch_t *b = new_batch(env, count, total);
  if (b == NULL) return NULL;
  memcpy(b->lens, lens, sizeof(uint32_t) * count);
  memcpy(b->data, data, total);
  return enqueue(env, s, b);
}

/* pushPieces(pieces: Uint8Array[]): one entry gathered from its pieces into one block; it travels
 * alone (these are the big ones). */
static napi_value js_push_pieces(napi_env env, napi_callback_info info) {
  napi_value argv[1], el;
  sender_t *s = unwrap(env, info, 1, argv);
  bool is_arr = false;
  uint32_t n;
  const uint8_t *p;
  size_t len, total = 0;
  if (s == NULL) return NULL;
  if (s->closed) {
    napi_throw_error(env, "LW_ERR_NATIVE_SOCKET_CLOSED", "JournalSender is closed");
    return NULL;
  }
  if (argv[0] == NULL || napi_is_array(env, argv[0], &is_arr) != napi_ok || !is_arr)
    return throw_type(env, "pieces must be an array of Uint8Array");
  napi_get_array_length(env, argv[0], &n);
  for (uint32_t i = 0; i < n; i++) {
    if (napi_get_element(env, argv[0], i, &el) != napi_ok || !get_bytes(env, el, &p, &len))
      return throw_type(env, "pieces must be an array of Uint8Array");
    total += len;
  }
  if (total >= LW_JOURNAL_ALONE) return throw_range(env, "an entry must be smaller than 2 GiB");
  batch_t *b = new_batch(env, 1, total);
  if (b == NULL) return NULL;
  b->lens[0] = (uint32_t)total | LW_JOURNAL_ALONE;
  size_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    /* Checked above; only an array whose getters change it between the two passes fails here. */
    if (napi_get_element(env, argv[0], i, &el) != napi_ok || !get_bytes(env, el, &p, &len) || len > total - off) {
      free(b);
      return throw_type(env, "pieces changed while being copied");
    }
    memcpy(b->data + off, p, len);
    off += len;
  }
  if (off != total) {
    free(b);
    return throw_type(env, "pieces changed while being copied");
  }
  return enqueue(env, s, b);
}

/* take(): what finished since the last report (see take_report), or null. */
static napi_value js_take(napi_env env, napi_callback_info info) {
  sender_t *s = unwrap(env, info, 0, NULL);
  return s == NULL ? NULL : take_report(env, s);
}

/* close(): stops and joins the thread. Entries it had not sent are dropped (the caller fails
 * them); what it finished is still there for take(). Idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  sender_t *s = unwrap(env, info, 0, NULL);
  if (s == NULL) return NULL;
  close_sender(s);
  return undefined(env);
}

napi_status lw_journal_sender_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"push", NULL, js_push, NULL, NULL, NULL, napi_default_method, NULL},
      {"pushPieces", NULL, js_push_pieces, NULL, NULL, NULL, napi_default_method, NULL},
      {"take", NULL, js_take, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"ALONE", NULL, NULL, NULL, NULL, NULL, napi_static | napi_enumerable, NULL},
  };
  napi_value cls;
  napi_status st = napi_create_uint32(env, LW_JOURNAL_ALONE, &methods[4].value);
  if (st != napi_ok) return st;
  st = napi_define_class(env, "JournalSender", NAPI_AUTO_LENGTH, js_new, NULL,
                                     sizeof(methods) / sizeof(methods[0]), methods, &cls);
  if (st != napi_ok) return st;
  return napi_set_named_property(env, exports, "JournalSender", cls);
}
