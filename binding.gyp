# binding.gyp: node-gyp build of the native addon build/Release/stas_native.node (loader: src/adapters/native.ts).
{
  "targets": [
    {
      "target_name": "stas_native",
      "sources": ["native/stas_native.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "cflags_c": ["-std=gnu11"],
      # node's common.gypi adds -O3 to Release builds after our -O2: drop it
      "configurations": { "Release": { "cflags!": ["-O3"] } }
    }
  ]
}
