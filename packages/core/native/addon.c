/* Node-API glue: argument checking and errno -> JS error mapping only. */
#include <node_api.h>
#include "sys.h"

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
  lw_pipe(fds, 1, 1);
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, fds[0], &a);
  napi_create_int32(env, fds[1], &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "pipe", NAPI_AUTO_LENGTH, js_pipe, NULL, &fn);
  napi_set_named_property(env, exports, "pipe", fn);
  return exports;
}
