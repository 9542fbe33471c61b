{
  "variables": {
    "have_mpi%": "<!(command -v mpicc >/dev/null 2>&1 && mpicc --showme:compile >/dev/null 2>&1 && echo 1 || echo 0)"
  },
  "conditions": [
    ["have_mpi==1", {
      "targets": [
        {
          "target_name": "polyalign_mpi",
          "sources": ["src/polyalign_mpi.c"],
          "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(mpicc --showme:compile)"],
          "cflags_c": ["-std=c11"],
          "libraries": ["<!@(mpicc --showme:link)", "-ldl"]
        }
      ]
    }, {
      "targets": [{ "target_name": "no_mpi", "type": "none" }]
    }]
  ]
}
