{
  "targets": [
    {
      "target_name": "logwarden_core",
      "sources": ["native/addon.c", "native/sys.c", "native/journal_sender.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"]
    }
  ]
}
