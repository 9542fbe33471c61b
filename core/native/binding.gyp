{
  "variables": {
    "have_cblas%": "<!(test -f /usr/include/x86_64-linux-gnu/cblas.h -o -f /usr/include/cblas.h -o -f /usr/include/openblas/cblas.h && echo 1 || echo 0)"
  },
  "targets": [
    {
      "target_name": "polyalign_native",
      "sources": ["src/polyalign_native.c", "src/image_ops.c", "src/parallel.c"],
      "cflags": ["-O3", "-march=x86-64-v2", "-fno-math-errno", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-unused-variable"],
      "cflags_c": ["-std=c11"],
      "libraries": ["-lm", "-lpthread"],
      "conditions": [
        ["have_cblas==1", {
          "defines": ["POLYALIGN_HAVE_CBLAS"],
          "include_dirs": ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/openblas"],
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
