{
  "targets": [
    {
      "target_name": "polyalign_native",
      "sources": ["src/polyalign_native.c"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/openblas"],
      "libraries": ["-lopenblas", "-lm"],
      "cflags": ["-O3", "-march=x86-64-v2", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=c11"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
