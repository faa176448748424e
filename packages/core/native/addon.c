/* Node-API glue: argument checking, errno -> JS error mapping, and the libuv poll handle.
 * All syscalls live in sys.c. The TypeScript wrappers in src/native/ give the public shape. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>
#include "sys.h"
#include "journal_sender.h"
#include "napi_util.h"

/* Per-environment state: ava (and the daemon's plugins) may load the addon in worker threads. */
typedef struct {
  napi_ref error_class; /* SysError from src/native/errors.ts */
  /* recvmmsg: where the part of a datagram beyond its slot in the caller's buffer lands. Reserved
   * address space (MAP_NORESERVE): only pages a long datagram touched are memory, and those are
   * given back after it was copied out. */
  char *tail_arena;
  size_t tail_arena_size;
} instance_t;

#define CHECK(call)                    \
  do {                                 \
    if ((call) != napi_ok) return NULL; \
  } while (0)

/* ---------- errors ---------- */

static napi_value make_string(napi_env env, const char *s) {
  napi_value v = NULL;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* A SysError (or, before binding.ts registered the class, a plain Error with the same properties). */
static napi_value make_sys_error(napi_env env, int err, const char *syscall) {
  int e = -err;
  char fallback[32];
  const char *code = strerrorname_np(e);
  if (code == NULL) {
    snprintf(fallback, sizeof(fallback), "E%d", e);
    code = fallback;
  }
  const char *desc = strerrordesc_np(e);
  if (desc == NULL) desc = "unknown error";
  napi_value args[4], ctor, error = NULL;
  args[0] = make_string(env, code);
  napi_create_int32(env, e, &args[1]);
  args[2] = make_string(env, syscall);
  args[3] = make_string(env, desc);
  instance_t *inst = NULL;
  if (napi_get_instance_data(env, (void **)&inst) == napi_ok && inst != NULL && inst->error_class != NULL &&
      napi_get_reference_value(env, inst->error_class, &ctor) == napi_ok && ctor != NULL &&
      napi_new_instance(env, ctor, 4, args, &error) == napi_ok) {
    return error;
  }
  char msg[256];
  snprintf(msg, sizeof(msg), "%s: %s, %s", code, desc, syscall);
  napi_create_error(env, args[0], make_string(env, msg), &error);
  napi_set_named_property(env, error, "errno", args[1]);
  napi_set_named_property(env, error, "syscall", args[2]);
  return error;
}

/* Throws SysError(code, errno, syscall, description); err is -errno. Always returns NULL. */
napi_value throw_sys(napi_env env, int err, const char *syscall) {
  napi_throw(env, make_sys_error(env, err, syscall));
  return NULL;
}

napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

static napi_value throw_value(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
  return NULL;
}

/* ---------- argument helpers (return 0 and throw on bad input) ---------- */

static int is_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  return v == NULL || (napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null));
}

static int get_i64(napi_env env, napi_value v, const char *name, int64_t min, int64_t max, int64_t *out) {
  double d;
  char msg[128];
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    snprintf(msg, sizeof(msg), "%s must be a number", name);
    throw_type(env, msg);
    return 0;
  }
  if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
    snprintf(msg, sizeof(msg), "%s must be an integer in [%lld, %lld]", name, (long long)min, (long long)max);
    throw_range(env, msg);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

static int get_int(napi_env env, napi_value v, const char *name, int min, int max, int *out) {
  int64_t x;
  if (!get_i64(env, v, name, min, max, &x)) return 0;
  *out = (int)x;
  return 1;
}

static int get_fd(napi_env env, napi_value v, const char *name, int *out) {
  return get_int(env, v, name, -1, 0x7fffffff, out);
}

static int get_bool(napi_env env, napi_value v, const char *name, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof(msg), "%s must be a boolean", name);
    throw_type(env, msg);
    return 0;
  }
  *out = b;
  return 1;
}

/* A Uint8Array (or Buffer, or another byte-sized typed array). */
static int get_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok ||
      (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array)) {
    char msg[96];
    snprintf(msg, sizeof(msg), "%s must be a Uint8Array", name);
    throw_type(env, msg);
    return 0;
  }
  *data = p;
  return 1;
}

/* Optional offset/length window inside a byte array of size len. */
static int get_window(napi_env env, napi_value voff, napi_value vlen, size_t size, size_t *off, size_t *len) {
  int64_t o = 0, l;
  if (!is_undefined(env, voff) && !get_i64(env, voff, "offset", 0, (int64_t)size, &o)) return 0;
  l = (int64_t)size - o;
  if (!is_undefined(env, vlen) && !get_i64(env, vlen, "length", 0, (int64_t)size - o, &l)) return 0;
  *off = (size_t)o;
  *len = (size_t)l;
  return 1;
}

/* Copies a JS string into a malloc'd NUL-terminated buffer; rejects embedded NULs unless allowed. */
static char *get_cstring(napi_env env, napi_value v, const char *name, int allow_nul, size_t *out_len) {
  size_t len;
  char msg[96];
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof(msg), "%s must be a string", name);
    throw_type(env, msg);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    throw_sys(env, -ENOMEM, "malloc");
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (!allow_nul && strlen(s) != len) {
    free(s);
    snprintf(msg, sizeof(msg), "%s must not contain NUL bytes", name);
    throw_value(env, msg);
    return NULL;
  }
  if (out_len != NULL) *out_len = len;
  return s;
}

/* A socket path: a leading NUL selects the abstract namespace (where NULs are ordinary bytes). */
static char *get_sock_path(napi_env env, napi_value v, size_t *len) {
  char *s = get_cstring(env, v, "path", 1, len);
  if (s == NULL) return NULL;
  if (*len == 0 || (s[0] != '\0' && strlen(s) != *len)) {
    free(s);
    throw_value(env, "path must be non-empty and contain no NUL bytes (except a leading one for abstract)");
    return NULL;
  }
  return s;
}

static napi_value get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  napi_value this_arg;
  if (napi_get_cb_info(env, info, &argc, argv, &this_arg, NULL) != napi_ok) return NULL;
  for (size_t i = argc; i < n; i++) argv[i] = NULL;
  return this_arg;
}

static napi_value num(napi_env env, double d) {
  napi_value v = NULL;
  napi_create_double(env, d, &v);
  return v;
}

napi_value undefined(napi_env env) {
  napi_value v = NULL;
  napi_get_undefined(env, &v);
  return v;
}

static napi_value null_value(napi_env env) {
  napi_value v = NULL;
  napi_get_null(env, &v);
  return v;
}

static napi_value boolean(napi_env env, int b) {
  napi_value v = NULL;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value pair(napi_env env, int a, int b) {
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, num(env, a));
  napi_set_element(env, arr, 1, num(env, b));
  return arr;
}

/* Hot-path result: a count, null for EAGAIN, or a thrown SysError. */
static napi_value io_result(napi_env env, ssize_t r, const char *syscall) {
  if (r >= 0) return num(env, (double)r);
  if (r == -EAGAIN || r == -EWOULDBLOCK) return null_value(env);
  return throw_sys(env, (int)r, syscall);
}

/* ---------- fds and pipes ---------- */

static napi_value js_set_error_class(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  instance_t *inst = NULL;
  napi_get_instance_data(env, (void **)&inst);
  if (inst == NULL) return NULL;
  if (inst->error_class != NULL) napi_delete_reference(env, inst->error_class);
  inst->error_class = NULL;
  CHECK(napi_create_reference(env, argv[0], 1, &inst->error_class));
  return undefined(env);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  get_args(env, info, 1, argv);
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = lw_close(fd);
  return r < 0 ? throw_sys(env, r, "close") : undefined(env);
}

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int cloexec, nonblock, fds[2];
  get_args(env, info, 2, argv);
  if (!get_bool(env, argv[0], "cloexec", &cloexec) || !get_bool(env, argv[1], "nonblock", &nonblock)) return NULL;
  int r = lw_pipe(fds, cloexec, nonblock);
  return r < 0 ? throw_sys(env, r, "pipe2") : pair(env, fds[0], fds[1]);
}

static napi_value js_set_pipe_size(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, size;
  get_args(env, info, 2, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_int(env, argv[1], "size", 0, 0x7fffffff, &size)) return NULL;
  int r = lw_set_pipe_size(fd, size);
  return r < 0 ? throw_sys(env, r, "fcntl") : num(env, r);
}

/* (fd, buffer, offset?, length?) -> fd and the window of the buffer to transfer. */
static bool get_io_args(napi_env env, napi_callback_info info, int *fd, uint8_t **start, size_t *len) {
  napi_value argv[4];
  uint8_t *data;
  size_t size, off;
  get_args(env, info, 4, argv);
  if (!get_fd(env, argv[0], "fd", fd) || !get_bytes(env, argv[1], "buffer", &data, &size) ||
      !get_window(env, argv[2], argv[3], size, &off, len))
    return false;
  *start = data + off;
  return true;
}

static napi_value js_read(napi_env env, napi_callback_info info) {
  int fd;
  uint8_t *start;
  size_t len;
  if (!get_io_args(env, info, &fd, &start, &len)) return NULL;
  return io_result(env, lw_read(fd, start, len), "read");
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  int fd;
  uint8_t *start;
  size_t len;
  if (!get_io_args(env, info, &fd, &start, &len)) return NULL;
  return io_result(env, lw_write(fd, start, len), "write");
}

#define MAX_IO_LEN ((int64_t)0x7ffff000) /* Linux caps one transfer at this anyway */

static napi_value js_splice(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int fd_in, fd_out;
  int64_t len, off_in = 0, off_out = 0;
  get_args(env, info, 5, argv);
  if (!get_fd(env, argv[0], "fdIn", &fd_in) || !get_fd(env, argv[1], "fdOut", &fd_out) ||
      !get_i64(env, argv[2], "length", 0, MAX_IO_LEN, &len))
    return NULL;
  int has_in = !is_undefined(env, argv[3]), has_out = !is_undefined(env, argv[4]);
  if (has_in && !get_i64(env, argv[3], "offIn", 0, INT64_MAX / 2, &off_in)) return NULL;
  if (has_out && !get_i64(env, argv[4], "offOut", 0, INT64_MAX / 2, &off_out)) return NULL;
  ssize_t r = lw_splice(fd_in, has_in ? &off_in : NULL, fd_out, has_out ? &off_out : NULL, (size_t)len);
  return io_result(env, r, "splice");
}

static napi_value js_tee(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd_in, fd_out;
  int64_t len;
  get_args(env, info, 3, argv);
  if (!get_fd(env, argv[0], "fdIn", &fd_in) || !get_fd(env, argv[1], "fdOut", &fd_out) ||
      !get_i64(env, argv[2], "length", 0, MAX_IO_LEN, &len))
    return NULL;
  return io_result(env, lw_tee(fd_in, fd_out, (size_t)len), "tee");
}

/* spliceToFiles: pipe -> file at an offset on libuv's threadpool, for a batch of (pipe, file) pairs
 * in one work item (one thread hand-off for many quiet logs). The caller's thread never waits on the
 * disk, and the bytes still leave each pipe only as they enter its file (splice, no copy the caller
 * could lose). A stalled file write holds only that pipe's lock: the daemon feeds these pipes from
 * the guests' ones, pipe to pipe. Per job: in = 4 numbers (fd in, fd out, length, offset out), out =
 * 3 numbers (bytes moved, -errno or 0, 1 at EOF). */
typedef struct {
  napi_async_work work;
  napi_ref callback;
  size_t count;
  double *jobs;    /* 4 per job */
  double *results; /* 3 per job */
} splice_batch_t;

static void splice_batch_execute(napi_env env, void *data) {
  splice_batch_t *b = data;
  for (size_t i = 0; i < b->count; i++) {
    const double *in = b->jobs + 4 * i;
    double *out = b->results + 3 * i;
    int64_t len = (int64_t)in[2], moved = 0;
    while (moved < len) {
      int64_t off = (int64_t)in[3] + moved;
      ssize_t r = lw_splice((int)in[0], NULL, (int)in[1], &off, (size_t)(len - moved));
      if (r == -EAGAIN) break; /* the pipe had less than asked: report what moved */
      if (r < 0) {
        out[1] = (double)r;
        break;
      }
      if (r == 0) {
        out[2] = 1;
        break;
      }
      moved += r;
    }
    out[0] = (double)moved;
  }
}

static void splice_batch_free(napi_env env, splice_batch_t *b) {
  if (b->callback != NULL) napi_delete_reference(env, b->callback);
  if (b->work != NULL) napi_delete_async_work(env, b->work);
  free(b->jobs);
  free(b->results);
  free(b);
}

static void splice_batch_complete(napi_env env, napi_status status, void *data) {
  splice_batch_t *b = data;
  napi_value cb, global, buffer, results;
  void *bytes = NULL;
  if (status == napi_cancelled) {
    for (size_t i = 0; i < b->count; i++) b->results[3 * i + 1] = -ECANCELED;
  }
  size_t size = b->count * 3 * sizeof(double);
  if (napi_get_reference_value(env, b->callback, &cb) == napi_ok && cb != NULL &&
      napi_create_arraybuffer(env, size, &bytes, &buffer) == napi_ok &&
      napi_create_typedarray(env, napi_float64_array, b->count * 3, buffer, 0, &results) == napi_ok) {
    memcpy(bytes, b->results, size);
    napi_get_global(env, &global);
    napi_call_function(env, global, cb, 1, &results, NULL);
  }
  splice_batch_free(env, b);
}

static napi_value js_splice_to_files(napi_env env, napi_callback_info info) {
  napi_value argv[2], name;
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_valuetype t;
  bool is_typed = false;
  get_args(env, info, 2, argv);
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed) return throw_type(env, "jobs must be a Float64Array");
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  if (type != napi_float64_array || length == 0 || length % 4 != 0) return throw_type(env, "jobs must be a non-empty Float64Array of 4 numbers per job");
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) return throw_type(env, "callback must be a function");
  const double *jobs = data;
  for (size_t i = 0; i < length; i += 4) {
    for (int k = 0; k < 2; k++) {
      if (!(jobs[i + k] >= 0 && jobs[i + k] <= INT32_MAX) || jobs[i + k] != (int)jobs[i + k]) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "fds must be integers >= 0");
        return NULL;
      }
    }
    if (!(jobs[i + 2] >= 1 && jobs[i + 2] <= (double)MAX_IO_LEN) || !(jobs[i + 3] >= 0 && jobs[i + 3] <= 9007199254740991.0)) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "length must be 1..0x7ffff000 and offOut a safe integer >= 0");
      return NULL;
    }
  }
  splice_batch_t *b = calloc(1, sizeof(*b));
  if (b == NULL) return throw_sys(env, -ENOMEM, "malloc");
  b->count = length / 4;
  b->jobs = malloc(length * sizeof(double));
  b->results = calloc(b->count * 3, sizeof(double));
  if (b->jobs == NULL || b->results == NULL) {
    splice_batch_free(env, b);
    return throw_sys(env, -ENOMEM, "malloc");
  }
  memcpy(b->jobs, jobs, length * sizeof(double));
  if (napi_create_reference(env, argv[1], 1, &b->callback) != napi_ok ||
      napi_create_string_utf8(env, "logwarden:spliceToFiles", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, splice_batch_execute, splice_batch_complete, b, &b->work) != napi_ok ||
      napi_queue_async_work(env, b->work) != napi_ok) {
    splice_batch_free(env, b);
    return NULL;
  }
  return undefined(env);
}

static napi_value js_fstat(napi_env env, napi_callback_info info) {
  napi_value argv[1], obj, v;
  int fd;
  struct lw_stat st;
  get_args(env, info, 1, argv);
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = lw_fstat(fd, &st);
  if (r < 0) return throw_sys(env, r, "fstat");
  CHECK(napi_create_object(env, &obj));
  napi_create_bigint_uint64(env, st.dev, &v);
  napi_set_named_property(env, obj, "dev", v);
  napi_create_bigint_uint64(env, st.ino, &v);
  napi_set_named_property(env, obj, "ino", v);
  napi_set_named_property(env, obj, "size", num(env, (double)st.size));
  napi_set_named_property(env, obj, "mode", num(env, st.mode));
  return obj;
}

/* fd -> int syscalls sharing one shape. */
#define FD_TO_INT(js_name, call, syscall)                        \
  static napi_value js_name(napi_env env, napi_callback_info info) { \
    napi_value argv[1];                                          \
    int fd;                                                      \
    get_args(env, info, 1, argv);                                \
    if (!get_fd(env, argv[0], "fd", &fd)) return NULL;           \
    int r = call(fd);                                            \
    return r < 0 ? throw_sys(env, r, syscall) : num(env, r);     \
  }

FD_TO_INT(js_fcntl_getfd, lw_fcntl_getfd, "fcntl")
FD_TO_INT(js_fcntl_getfl, lw_fcntl_getfl, "fcntl")
FD_TO_INT(js_get_seals, lw_get_seals, "fcntl")
FD_TO_INT(js_pidfd_open, lw_pidfd_open, "pidfd_open")
FD_TO_INT(js_get_pipe_size, lw_get_pipe_size, "fcntl")
FD_TO_INT(js_pipe_bytes, lw_pipe_bytes, "ioctl")

static napi_value js_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  get_args(env, info, 1, argv);
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  return io_result(env, lw_accept(fd), "accept4");
}

/* (fd, bool) -> void */
#define FD_BOOL(js_name, call, syscall)                                            \
  static napi_value js_name(napi_env env, napi_callback_info info) {                \
    napi_value argv[2];                                                             \
    int fd, on;                                                                     \
    get_args(env, info, 2, argv);                                                   \
    if (!get_fd(env, argv[0], "fd", &fd) || !get_bool(env, argv[1], "on", &on)) return NULL; \
    int r = call(fd, on);                                                           \
    return r < 0 ? throw_sys(env, r, syscall) : undefined(env);                     \
  }

FD_BOOL(js_set_cloexec, lw_set_cloexec, "fcntl")
FD_BOOL(js_set_nonblock, lw_set_nonblock, "fcntl")

static napi_value js_dup(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, cloexec;
  get_args(env, info, 2, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_bool(env, argv[1], "cloexec", &cloexec)) return NULL;
  int r = lw_dup(fd, cloexec);
  return r < 0 ? throw_sys(env, r, "fcntl") : num(env, r);
}

/* ---------- memfd ---------- */

static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int cloexec, sealing;
  get_args(env, info, 3, argv);
  if (!get_bool(env, argv[1], "cloexec", &cloexec) || !get_bool(env, argv[2], "allowSealing", &sealing)) return NULL;
  char *name = get_cstring(env, argv[0], "name", 0, NULL);
  if (name == NULL) return NULL;
  int r = lw_memfd_create(name, cloexec, sealing);
  free(name);
  return r < 0 ? throw_sys(env, r, "memfd_create") : num(env, r);
}

static napi_value js_add_seals(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, seals;
  get_args(env, info, 2, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_int(env, argv[1], "seals", 0, 0x7fffffff, &seals)) return NULL;
  int r = lw_add_seals(fd, seals);
  return r < 0 ? throw_sys(env, r, "fcntl") : undefined(env);
}

/* ---------- processes ---------- */

static napi_value js_pidfd_getfd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int pidfd, target;
  get_args(env, info, 2, argv);
  if (!get_fd(env, argv[0], "pidfd", &pidfd) || !get_fd(env, argv[1], "targetFd", &target)) return NULL;
  int r = lw_pidfd_getfd(pidfd, target);
  return r < 0 ? throw_sys(env, r, "pidfd_getfd") : num(env, r);
}

static void free_strv(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

/* A JS string array -> NULL-terminated malloc'd char* array. */
static char **get_strv(napi_env env, napi_value arr, const char *name) {
  bool is_arr = false;
  uint32_t n;
  char msg[96];
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr) {
    snprintf(msg, sizeof(msg), "%s must be an array of strings", name);
    throw_type(env, msg);
    return NULL;
  }
  napi_get_array_length(env, arr, &n);
  char **v = calloc((size_t)n + 1, sizeof(char *));
  if (v == NULL) {
    throw_sys(env, -ENOMEM, "malloc");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, arr, i, &el) != napi_ok || (v[i] = get_cstring(env, el, name, 0, NULL)) == NULL) {
      free_strv(v);
      return NULL;
    }
  }
  return v;
}

/* An array of signal numbers, at most LW_MAX_SIGNALS. Returns the count, or -1 with an exception. */
#define LW_MAX_SIGNALS 64
static int get_signals(napi_env env, napi_value v, int out[LW_MAX_SIGNALS]) {
  bool is_arr;
  uint32_t n;
  if (napi_is_array(env, v, &is_arr) != napi_ok || !is_arr) {
    throw_type(env, "signals must be an array of signal numbers");
    return -1;
  }
  napi_get_array_length(env, v, &n);
  if (n > LW_MAX_SIGNALS) {
    throw_range(env, "too many signals");
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, v, i, &el) != napi_ok || !get_int(env, el, "signals[i]", 1, 64, &out[i])) return -1;
  }
  return (int)n;
}

/* execve(path, argv, env, blockSignals?) -> only returns by throwing */
static napi_value js_execve(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int block[LW_MAX_SIGNALS], nblock = 0;
  get_args(env, info, 4, argv);
  if (!is_undefined(env, argv[3]) && (nblock = get_signals(env, argv[3], block)) < 0) return NULL;
  char *path = get_cstring(env, argv[0], "path", 0, NULL);
  if (path == NULL) return NULL;
  char **args = get_strv(env, argv[1], "argv");
  char **envp = args == NULL ? NULL : get_strv(env, argv[2], "env");
  int r = envp == NULL ? 0 : lw_execve(path, args, envp, block, nblock);
  free(path);
  free_strv(args);
  free_strv(envp);
  return r < 0 ? throw_sys(env, r, "execve") : NULL;
}

/* blockedSignals(signals) -> boolean[] (which of them the calling thread blocks) */
static napi_value js_blocked_signals(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr, el;
  int sigs[LW_MAX_SIGNALS], blocked[LW_MAX_SIGNALS];
  get_args(env, info, 1, argv);
  int n = get_signals(env, argv[0], sigs);
  if (n < 0) return NULL;
  int r = lw_blocked_signals(sigs, n, blocked);
  if (r < 0) return throw_sys(env, r, "pthread_sigmask");
  napi_create_array_with_length(env, (size_t)n, &arr);
  for (int i = 0; i < n; i++) {
    napi_get_boolean(env, blocked[i] != 0, &el);
    napi_set_element(env, arr, (uint32_t)i, el);
  }
  return arr;
}

/* ---------- files ---------- */

/* renameat2(from, to, flags) -> void */
static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int flags;
  get_args(env, info, 3, argv);
  if (!get_int(env, argv[2], "flags", 0, RENAME_NOREPLACE | RENAME_EXCHANGE, &flags)) return NULL;
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return throw_value(env, "flags: NOREPLACE and EXCHANGE exclude each other");
  char *from = get_cstring(env, argv[0], "from", 0, NULL);
  if (from == NULL) return NULL;
  char *to = get_cstring(env, argv[1], "to", 0, NULL);
  int r = to == NULL ? 0 : lw_renameat2(from, to, (unsigned)flags);
  free(from);
  if (to == NULL) return NULL;
  free(to);
  return r < 0 ? throw_sys(env, r, "renameat2") : undefined(env);
}

/* ---------- sockets ---------- */

static int get_socktype(napi_env env, napi_value v, int *type) {
  if (!get_int(env, v, "type", 0, 0xff, type)) return 0;
  if (*type != SOCK_STREAM && *type != SOCK_DGRAM && *type != SOCK_SEQPACKET) {
    throw_value(env, "type must be SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET");
    return 0;
  }
  return 1;
}

static napi_value js_socket(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int type, cloexec, nonblock;
  get_args(env, info, 3, argv);
  if (!get_socktype(env, argv[0], &type) || !get_bool(env, argv[1], "cloexec", &cloexec) ||
      !get_bool(env, argv[2], "nonblock", &nonblock))
    return NULL;
  int r = lw_socket(type, cloexec, nonblock);
  return r < 0 ? throw_sys(env, r, "socket") : num(env, r);
}

static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int type, cloexec, nonblock, fds[2];
  get_args(env, info, 3, argv);
  if (!get_socktype(env, argv[0], &type) || !get_bool(env, argv[1], "cloexec", &cloexec) ||
      !get_bool(env, argv[2], "nonblock", &nonblock))
    return NULL;
  int r = lw_socketpair(type, cloexec, nonblock, fds);
  return r < 0 ? throw_sys(env, r, "socketpair") : pair(env, fds[0], fds[1]);
}

static napi_value bind_or_connect(napi_env env, napi_callback_info info, int is_bind) {
  napi_value argv[2];
  int fd;
  size_t len;
  get_args(env, info, 2, argv);
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  char *path = get_sock_path(env, argv[1], &len);
  if (path == NULL) return NULL;
  int r = is_bind ? lw_bind(fd, path, len) : lw_connect(fd, path, len);
  free(path);
  return r < 0 ? throw_sys(env, r, is_bind ? "bind" : "connect") : undefined(env);
}

static napi_value js_bind(napi_env env, napi_callback_info info) { return bind_or_connect(env, info, 1); }
static napi_value js_connect(napi_env env, napi_callback_info info) { return bind_or_connect(env, info, 0); }

static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, backlog;
  get_args(env, info, 2, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_int(env, argv[1], "backlog", 0, 0x7fffffff, &backlog)) return NULL;
  int r = lw_listen(fd, backlog);
  return r < 0 ? throw_sys(env, r, "listen") : undefined(env);
}

#define SMALL_IOV 16

/* sendmsg(fd, data: Uint8Array | Uint8Array[], fds?: number[], path?: string) -> bytes | null */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd, fds[LW_MAX_FDS], nfds = 0;
  struct iovec small[SMALL_IOV], *iov = small;
  uint32_t niov = 1;
  size_t path_len = 0;
  char *path = NULL;
  bool is_arr = false;
  napi_value result = NULL;
  get_args(env, info, 4, argv);
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  napi_is_array(env, argv[1], &is_arr);
  if (is_arr) {
    napi_get_array_length(env, argv[1], &niov);
    if (niov > IOV_MAX) return throw_range(env, "data must have at most IOV_MAX (1024) pieces");
    if (niov > SMALL_IOV && (iov = malloc(sizeof(struct iovec) * niov)) == NULL)
      return throw_sys(env, -ENOMEM, "malloc");
    for (uint32_t i = 0; i < niov; i++) {
      napi_value el;
      uint8_t *p;
      if (napi_get_element(env, argv[1], i, &el) != napi_ok || !get_bytes(env, el, "data[i]", &p, &iov[i].iov_len))
        goto out;
      iov[i].iov_base = p;
    }
  } else {
    uint8_t *p;
    if (!get_bytes(env, argv[1], "data", &p, &iov[0].iov_len)) return NULL;
    iov[0].iov_base = p;
  }
  if (!is_undefined(env, argv[2])) {
    uint32_t n;
    if (napi_is_array(env, argv[2], &is_arr) != napi_ok || !is_arr) {
      throw_type(env, "fds must be an array of numbers");
      goto out;
    }
    napi_get_array_length(env, argv[2], &n);
    if (n > LW_MAX_FDS) {
      throw_range(env, "at most 253 fds fit in one message");
      goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
      napi_value el;
      if (napi_get_element(env, argv[2], i, &el) != napi_ok || !get_int(env, el, "fds[i]", 0, 0x7fffffff, &fds[i]))
        goto out;
    }
    nfds = (int)n;
  }
  if (!is_undefined(env, argv[3]) && (path = get_sock_path(env, argv[3], &path_len)) == NULL) goto out;
  result = io_result(env, lw_sendmsg(fd, iov, (int)niov, fds, nfds, path, path_len), "sendmsg");
out:
  if (iov != small) free(iov);
  free(path);
  return result;
}

/* Layout of the Int32Array the caller passes to recvmsg for the metadata. */
enum { META_NFDS, META_HAS_CRED, META_PID, META_UID, META_GID, META_TRUNC, META_CTRUNC, META_FDS, META_LEN = META_FDS + LW_MAX_FDS };

/* recvmsg(fd, buf, maxFds, meta: Int32Array) -> bytes | null. Fills meta; no allocation per call. */
static napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd, max_fds;
  uint8_t *data;
  size_t size, meta_len;
  napi_typedarray_type type;
  void *meta_p;
  bool is_ta = false;
  struct lw_recv rv;
  get_args(env, info, 4, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_bytes(env, argv[1], "buffer", &data, &size) ||
      !get_int(env, argv[2], "maxFds", 0, LW_MAX_FDS, &max_fds))
    return NULL;
  if (napi_is_typedarray(env, argv[3], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[3], &type, &meta_len, &meta_p, NULL, NULL) != napi_ok ||
      type != napi_int32_array || meta_len < META_LEN)
    return throw_type(env, "meta must be an Int32Array of RECV_META_LENGTH elements");
  ssize_t n = lw_recvmsg(fd, data, size, max_fds, &rv);
  if (n < 0) return io_result(env, n, "recvmsg");
  int32_t *meta = meta_p;
  meta[META_NFDS] = rv.nfds;
  meta[META_HAS_CRED] = rv.has_cred;
  meta[META_PID] = rv.has_cred ? rv.cred.pid : 0;
  meta[META_UID] = rv.has_cred ? (int32_t)rv.cred.uid : 0;
  meta[META_GID] = rv.has_cred ? (int32_t)rv.cred.gid : 0;
  meta[META_TRUNC] = rv.truncated;
  meta[META_CTRUNC] = rv.fds_truncated;
  memcpy(meta + META_FDS, rv.fds, sizeof(int) * (size_t)rv.nfds);
  return num(env, (double)n);
}

/* Layout of the Int32Array the caller passes to recvmmsg: MMSG_STRIDE values per message
 * (length, nfds, hasCred, pid, uid, gid, trunc, ctrunc), then from MMSG_FDS the fds, maxFds per
 * message (message i's at MMSG_FDS + i * maxFds). */
enum { MM_LEN, MM_NFDS, MM_HAS_CRED, MM_PID, MM_UID, MM_GID, MM_TRUNC, MM_CTRUNC, MMSG_STRIDE };
#define MMSG_FDS (LW_MAX_MMSG * MMSG_STRIDE)
#define MMSG_META_LEN (MMSG_FDS + LW_MAX_MMSG * LW_MAX_FDS)
/* Most address space reserved for tails (for 16 MiB datagrams: 16 per call). */
#define TAIL_ARENA_MAX ((size_t)256 * 1024 * 1024)
/* Pages of a slot's tail kept mapped after a long datagram: most such datagrams are small. */
#define TAIL_KEEP ((size_t)64 * 1024)

static int reserve_tail_arena(instance_t *inst, size_t size) {
  if (inst->tail_arena_size >= size) return 0;
  long page = sysconf(_SC_PAGESIZE);
  size = (size + (size_t)page - 1) & ~((size_t)page - 1);
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return -errno;
  if (inst->tail_arena != NULL) munmap(inst->tail_arena, inst->tail_arena_size);
  inst->tail_arena = p;
  inst->tail_arena_size = size;
  return 0;
}

/* Gives back the pages of a tail beyond TAIL_KEEP that a long datagram touched. */
static void release_tail(char *tail, size_t used) {
  if (used <= TAIL_KEEP) return;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t from = ((uintptr_t)tail + TAIL_KEEP + page - 1) & ~(page - 1);
  uintptr_t to = ((uintptr_t)tail + used + page - 1) & ~(page - 1);
  if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
}

/* recvmmsg(fd, buf, slotSize, maxMessages, maxLen, maxFds, meta: Int32Array, long: unknown[])
 *   -> count | null (EAGAIN).
 * Message i is read into buf[i * slotSize ...]; a datagram longer than slotSize (up to maxLen)
 * cannot be handed over in its slot, so it is copied into a new Buffer stored at long[i]. */
static napi_value js_recvmmsg(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  int fd, slot, n, max_len, max_fds;
  uint8_t *data;
  size_t size, meta_len;
  napi_typedarray_type type;
  void *meta_p;
  bool is_ta = false, is_arr = false;
  struct lw_mrecv msgs[LW_MAX_MMSG];
  instance_t *inst = NULL;
  get_args(env, info, 8, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_bytes(env, argv[1], "buffer", &data, &size) ||
      !get_int(env, argv[2], "slotSize", 1, 0x7ffff000, &slot) ||
      !get_int(env, argv[3], "maxMessages", 1, LW_MAX_MMSG, &n) ||
      !get_int(env, argv[4], "maxLen", slot, 0x7ffff000, &max_len) ||
      !get_int(env, argv[5], "maxFds", 0, LW_MAX_FDS, &max_fds))
    return NULL;
  if ((size_t)slot * (size_t)n > size) return throw_range(env, "buffer must hold maxMessages slots of slotSize bytes");
  if (napi_is_typedarray(env, argv[6], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[6], &type, &meta_len, &meta_p, NULL, NULL) != napi_ok ||
      type != napi_int32_array || meta_len < MMSG_META_LEN)
    return throw_type(env, "meta must be an Int32Array of MMSG_META_LENGTH elements");
  if (napi_is_array(env, argv[7], &is_arr) != napi_ok || !is_arr) return throw_type(env, "long must be an array");
  size_t tail = (size_t)(max_len - slot);
  if (tail > 0) {
    if (napi_get_instance_data(env, (void **)&inst) != napi_ok || inst == NULL) return throw_sys(env, -EINVAL, "recvmmsg");
    /* Fewer messages per call rather than more reserved address space than TAIL_ARENA_MAX, or
     * than the kernel grants (strict overcommit charges even MAP_NORESERVE): a shorter batch only
     * means the caller reads again at its next readiness event. */
    size_t fit = TAIL_ARENA_MAX / tail;
    if (fit < 1) fit = 1;
    if ((size_t)n > fit) n = (int)fit;
    int r;
    while ((r = reserve_tail_arena(inst, tail * (size_t)n)) < 0 && n > 1) n /= 2;
    if (r < 0) return throw_sys(env, r, "mmap");
  }
  for (int i = 0; i < n; i++) {
    msgs[i].iov[0].iov_base = data + (size_t)slot * (size_t)i;
    msgs[i].iov[0].iov_len = (size_t)slot;
    msgs[i].iov[1].iov_base = tail > 0 ? inst->tail_arena + tail * (size_t)i : NULL;
    msgs[i].iov[1].iov_len = tail;
  }
  int32_t *meta = meta_p;
  int count = lw_recvmmsg(fd, msgs, n, max_fds, meta + MMSG_FDS);
  if (count < 0) return io_result(env, count, "recvmmsg");
  for (int i = 0; i < count; i++) {
    struct lw_mrecv *m = &msgs[i];
    int32_t *o = meta + i * MMSG_STRIDE;
    o[MM_LEN] = (int32_t)m->len;
    o[MM_NFDS] = m->nfds;
    o[MM_HAS_CRED] = m->has_cred;
    o[MM_PID] = m->has_cred ? m->cred.pid : 0;
    o[MM_UID] = m->has_cred ? (int32_t)m->cred.uid : 0;
    o[MM_GID] = m->has_cred ? (int32_t)m->cred.gid : 0;
    o[MM_TRUNC] = m->truncated;
    o[MM_CTRUNC] = m->fds_truncated;
    if (m->len > (size_t)slot) {
      napi_value buf;
      void *p;
      char *t = m->iov[1].iov_base;
      size_t rest = m->len - (size_t)slot;
      if (napi_create_buffer(env, m->len, &p, &buf) != napi_ok || napi_set_element(env, argv[7], (uint32_t)i, buf) != napi_ok) {
        /* Nothing of the batch reaches the caller, so none of its fds may stay open. */
        for (int j = 0; j < count; j++)
          for (int k = 0; k < msgs[j].nfds; k++) lw_close(meta[MMSG_FDS + msgs[j].fd_start + k]);
        return throw_sys(env, -ENOMEM, "recvmmsg");
      }
      memcpy(p, m->iov[0].iov_base, (size_t)slot);
      memcpy((char *)p + slot, t, rest);
      release_tail(t, rest);
    }
  }
  return num(env, count);
}

static napi_value js_setsockopt_int(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd, level, name, value;
  get_args(env, info, 4, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_int(env, argv[1], "level", 0, 0xffff, &level) ||
      !get_int(env, argv[2], "name", 0, 0xffff, &name) ||
      !get_int(env, argv[3], "value", -0x7fffffff, 0x7fffffff, &value))
    return NULL;
  int r = lw_setsockopt_int(fd, level, name, value);
  return r < 0 ? throw_sys(env, r, "setsockopt") : undefined(env);
}

static napi_value js_getsockopt_int(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd, level, name;
  get_args(env, info, 3, argv);
  if (!get_fd(env, argv[0], "fd", &fd) || !get_int(env, argv[1], "level", 0, 0xffff, &level) ||
      !get_int(env, argv[2], "name", 0, 0xffff, &name))
    return NULL;
  int r = lw_getsockopt_int(fd, level, name);
  return r < 0 ? throw_sys(env, r, "getsockopt") : num(env, r);
}

static napi_value js_get_peer_cred(napi_env env, napi_callback_info info) {
  napi_value argv[1], obj;
  int fd;
  struct lw_cred c;
  get_args(env, info, 1, argv);
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = lw_get_peer_cred(fd, &c);
  if (r < 0) return throw_sys(env, r, "getsockopt");
  CHECK(napi_create_object(env, &obj));
  napi_set_named_property(env, obj, "pid", num(env, c.pid));
  napi_set_named_property(env, obj, "uid", num(env, c.uid));
  napi_set_named_property(env, obj, "gid", num(env, c.gid));
  return obj;
}

/* ---------- FdPoller: a libuv uv_poll_t ----------
 * Lifetime: the JS object holds a weak reference to itself while idle (GC may collect it, the
 * finalizer then closes the handle) and a strong one while started (an active poller must keep
 * delivering events even if user code dropped it). The C struct is freed once both the handle
 * is closed and the JS object is finalized. An async cleanup hook closes the handle on
 * environment teardown so that worker threads can exit. */

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref self;
  napi_ref callback;
  napi_async_context actx;
  napi_async_cleanup_hook_handle hook;
  int strong;
  int closing;
  int closed;
  int finalized;
} poller_t;

static void poller_release(poller_t *p, int strong) {
  if (strong && !p->strong) napi_reference_ref(p->env, p->self, NULL);
  if (!strong && p->strong) napi_reference_unref(p->env, p->self, NULL);
  p->strong = strong;
}

static void poller_on_close(uv_handle_t *h) {
  poller_t *p = h->data;
  napi_env env = p->env;
  p->closed = 1;
  napi_delete_reference(env, p->callback);
  napi_delete_reference(env, p->self);
  napi_async_destroy(env, p->actx);
  napi_remove_async_cleanup_hook(p->hook);
  if (p->finalized) free(p);
}

static void poller_start_close(poller_t *p) {
  if (p->closing) return;
  p->closing = 1;
  poller_release(p, 0);
  uv_close((uv_handle_t *)&p->handle, poller_on_close);
}

static void poller_cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  poller_start_close(arg);
}

static void poller_finalize(napi_env env, void *data, void *hint) {
  poller_t *p = data;
  p->finalized = 1;
  if (p->closed)
    free(p);
  else
    poller_start_close(p);
}

static void poller_on_event(uv_poll_t *h, int status, int events) {
  poller_t *p = h->data;
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_value cb, global, ev, result;
  /* libuv stops the handle itself when it reports an error. */
  if (status < 0) poller_release(p, 0);
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != NULL &&
      napi_get_global(env, &global) == napi_ok && napi_create_object(env, &ev) == napi_ok) {
    napi_set_named_property(env, ev, "readable", boolean(env, (events & UV_READABLE) != 0));
    napi_set_named_property(env, ev, "writable", boolean(env, (events & UV_WRITABLE) != 0));
    napi_set_named_property(env, ev, "disconnect", boolean(env, (events & UV_DISCONNECT) != 0));
    napi_set_named_property(env, ev, "error", num(env, status < 0 ? -status : 0));
    /* make_callback (not call_function) so that promise jobs and nextTicks run afterwards. */
    if (napi_make_callback(env, p->actx, global, cb, 1, &ev, &result) == napi_pending_exception) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

static poller_t *unwrap_poller(napi_env env, napi_value this_arg) {
  poller_t *p = NULL;
  if (this_arg == NULL || napi_unwrap(env, this_arg, (void **)&p) != napi_ok || p == NULL) {
    throw_type(env, "not an FdPoller");
    return NULL;
  }
  return p;
}

static napi_value js_poller_new(napi_env env, napi_callback_info info) {
  napi_value argv[2], this_arg, target, name;
  napi_valuetype t;
  int fd;
  uv_loop_t *loop;
  this_arg = get_args(env, info, 2, argv);
  if (napi_get_new_target(env, info, &target) != napi_ok || target == NULL)
    return throw_type(env, "FdPoller must be called with new");
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  if (argv[1] == NULL || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
    return throw_type(env, "onEvent must be a function");
  CHECK(napi_get_uv_event_loop(env, &loop));
  poller_t *p = calloc(1, sizeof(*p));
  if (p == NULL) return throw_sys(env, -ENOMEM, "malloc");
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r < 0) {
    free(p);
    return throw_sys(env, r, "uv_poll_init");
  }
  p->env = env;
  p->handle.data = p;
  name = make_string(env, "FdPoller");
  if (napi_create_reference(env, argv[1], 1, &p->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &p->actx) != napi_ok ||
      napi_add_async_cleanup_hook(env, poller_cleanup_hook, p, &p->hook) != napi_ok ||
      napi_create_reference(env, this_arg, 0, &p->self) != napi_ok ||
      napi_wrap(env, this_arg, p, poller_finalize, NULL, NULL) != napi_ok) {
    /* Only allocation failures get here; the process is in trouble anyway. */
    napi_fatal_error("FdPoller", NAPI_AUTO_LENGTH, "cannot set up the poll handle", NAPI_AUTO_LENGTH);
  }
  return this_arg;
}

static int get_want(napi_env env, napi_value v, int *events) {
  napi_value r, w;
  bool has;
  int readable = 0, writable = 0;
  napi_valuetype t;
  if (v == NULL || napi_typeof(env, v, &t) != napi_ok || t != napi_object) {
    throw_type(env, "want must be an object");
    return 0;
  }
  if (napi_has_named_property(env, v, "readable", &has) == napi_ok && has &&
      napi_get_named_property(env, v, "readable", &r) == napi_ok && !is_undefined(env, r) &&
      !get_bool(env, r, "want.readable", &readable))
    return 0;
  if (napi_has_named_property(env, v, "writable", &has) == napi_ok && has &&
      napi_get_named_property(env, v, "writable", &w) == napi_ok && !is_undefined(env, w) &&
      !get_bool(env, w, "want.writable", &writable))
    return 0;
  /* Disconnect only with readable: a peer hang-up stays level-triggered and would spin a
   * writer-only watch. */
  *events = (readable ? UV_READABLE | UV_DISCONNECT : 0) | (writable ? UV_WRITABLE : 0);
  return 1;
}

static napi_value js_poller_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int events;
  poller_t *p = unwrap_poller(env, get_args(env, info, 1, argv));
  if (p == NULL || !get_want(env, argv[0], &events)) return NULL;
  if (p->closing) {
    napi_throw_error(env, "LW_ERR_NATIVE_POLLER_CLOSED", "FdPoller is closed");
    return NULL;
  }
  if (events == 0) {
    uv_poll_stop(&p->handle);
    poller_release(p, 0);
    return undefined(env);
  }
  int r = uv_poll_start(&p->handle, events, poller_on_event);
  if (r < 0) return throw_sys(env, r, "uv_poll_start");
  poller_release(p, 1);
  return undefined(env);
}

static napi_value js_poller_stop(napi_env env, napi_callback_info info) {
  poller_t *p = unwrap_poller(env, get_args(env, info, 0, NULL));
  if (p == NULL) return NULL;
  if (!p->closing) {
    uv_poll_stop(&p->handle);
    poller_release(p, 0);
  }
  return undefined(env);
}

static napi_value js_poller_close(napi_env env, napi_callback_info info) {
  poller_t *p = unwrap_poller(env, get_args(env, info, 0, NULL));
  if (p == NULL) return NULL;
  poller_start_close(p);
  return undefined(env);
}

/* ---------- module ---------- */

static void instance_finalize(napi_env env, void *data, void *hint) {
  instance_t *inst = data;
  if (inst->error_class != NULL) napi_delete_reference(env, inst->error_class);
  if (inst->tail_arena != NULL) munmap(inst->tail_arena, inst->tail_arena_size);
  free(inst);
}

static void set_const(napi_env env, napi_value obj, const char *name, int value) {
  napi_set_named_property(env, obj, name, num(env, value));
}

NAPI_MODULE_INIT() {
  instance_t *inst = calloc(1, sizeof(*inst));
  if (inst == NULL || napi_set_instance_data(env, inst, instance_finalize, NULL) != napi_ok) return NULL;

  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"setErrorClass", js_set_error_class},
      {"close", js_close},
      {"pipe", js_pipe},
      {"setPipeSize", js_set_pipe_size},
      {"getPipeSize", js_get_pipe_size},
      {"read", js_read},
      {"write", js_write},
      {"splice", js_splice},
      {"tee", js_tee},
      {"pipeBytes", js_pipe_bytes},
      {"spliceToFiles", js_splice_to_files},
      {"fstat", js_fstat},
      {"fcntlGetFd", js_fcntl_getfd},
      {"fcntlGetFl", js_fcntl_getfl},
      {"setCloexec", js_set_cloexec},
      {"setNonblock", js_set_nonblock},
      {"dup", js_dup},
      {"memfdCreate", js_memfd_create},
      {"addSeals", js_add_seals},
      {"getSeals", js_get_seals},
      {"pidfdOpen", js_pidfd_open},
      {"pidfdGetfd", js_pidfd_getfd},
      {"execve", js_execve},
      {"blockedSignals", js_blocked_signals},
      {"renameat2", js_renameat2},
      {"socket", js_socket},
      {"socketpair", js_socketpair},
      {"bind", js_bind},
      {"connect", js_connect},
      {"listen", js_listen},
      {"accept", js_accept},
      {"sendmsg", js_sendmsg},
      {"recvmsg", js_recvmsg},
      {"recvmmsg", js_recvmmsg},
      {"setsockoptInt", js_setsockopt_int},
      {"getsockoptInt", js_getsockopt_int},
      {"getPeerCred", js_get_peer_cred},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn));
    CHECK(napi_set_named_property(env, exports, fns[i].name, fn));
  }

  napi_property_descriptor methods[] = {
      {"start", NULL, js_poller_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, js_poller_stop, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, js_poller_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value poller_class;
  CHECK(napi_define_class(env, "FdPoller", NAPI_AUTO_LENGTH, js_poller_new, NULL, 3, methods, &poller_class));
  CHECK(napi_set_named_property(env, exports, "FdPoller", poller_class));
  CHECK(lw_journal_sender_init(env, exports));

  napi_value c;
  CHECK(napi_create_object(env, &c));
  set_const(env, c, "SOCK_STREAM", SOCK_STREAM);
  set_const(env, c, "SOCK_DGRAM", SOCK_DGRAM);
  set_const(env, c, "SOCK_SEQPACKET", SOCK_SEQPACKET);
  set_const(env, c, "SOL_SOCKET", SOL_SOCKET);
  set_const(env, c, "SO_PASSCRED", SO_PASSCRED);
  set_const(env, c, "SO_SNDBUF", SO_SNDBUF);
  set_const(env, c, "SO_SNDBUFFORCE", SO_SNDBUFFORCE);
  set_const(env, c, "SO_RCVBUF", SO_RCVBUF);
  set_const(env, c, "SO_RCVBUFFORCE", SO_RCVBUFFORCE);
  set_const(env, c, "SO_ERROR", SO_ERROR);
  set_const(env, c, "FD_CLOEXEC", FD_CLOEXEC);
  set_const(env, c, "O_NONBLOCK", O_NONBLOCK);
  set_const(env, c, "F_SEAL_SEAL", F_SEAL_SEAL);
  set_const(env, c, "F_SEAL_SHRINK", F_SEAL_SHRINK);
  set_const(env, c, "F_SEAL_GROW", F_SEAL_GROW);
  set_const(env, c, "F_SEAL_WRITE", F_SEAL_WRITE);
  set_const(env, c, "F_SEAL_FUTURE_WRITE", F_SEAL_FUTURE_WRITE);
  set_const(env, c, "MAX_FDS", LW_MAX_FDS);
  set_const(env, c, "RECV_META_LENGTH", META_LEN);
  set_const(env, c, "IOV_MAX", IOV_MAX);
  set_const(env, c, "RENAME_NOREPLACE", RENAME_NOREPLACE);
  set_const(env, c, "RENAME_EXCHANGE", RENAME_EXCHANGE);
  set_const(env, c, "MMSG_MAX", LW_MAX_MMSG);
  set_const(env, c, "MMSG_STRIDE", MMSG_STRIDE);
  set_const(env, c, "MMSG_FDS", MMSG_FDS);
  set_const(env, c, "MMSG_META_LENGTH", MMSG_META_LEN);
  set_const(env, c, "MMSG_TAIL_ARENA_MAX", (int)TAIL_ARENA_MAX);
  CHECK(napi_set_named_property(env, exports, "constants", c));
  return exports;
}
