/* Node-API helpers defined in addon.c and shared with the other native files (journal_sender.c),
 * so that every native call throws the same coded errors. */
#ifndef LOGWARDEN_NAPI_UTIL_H
#define LOGWARDEN_NAPI_UTIL_H

#include <node_api.h>

/* Throws SysError(code, errno, syscall, description); err is -errno. Always returns NULL. */
napi_value throw_sys(napi_env env, int err, const char *syscall);
/* Throw a TypeError ERR_INVALID_ARG_TYPE / a RangeError ERR_OUT_OF_RANGE. Always return NULL. */
napi_value throw_type(napi_env env, const char *msg);
napi_value throw_range(napi_env env, const char *msg);
napi_value undefined(napi_env env);

#endif
