/*
 * polyalign's binding to MPI (Node-API, C): just what data-parallel training
 * needs — init with a thread level, rank and size (and the rank among the
 * processes of this node), in-place sum all-reduce of a Float32Array, broadcast
 * and all-gather of typed arrays, a barrier, abort and finalize.
 *
 * Collectives run as async work on the libuv thread pool so the event loop
 * goes on (worker results, progress, signals) while the bytes travel; the JS
 * side issues one collective at a time (MPI_THREAD_SERIALIZED is enough, and
 * is what init asks for). Every typed array is held by a reference until its
 * work is done. libmpi is re-opened RTLD_GLOBAL before MPI_Init: Node loads
 * this addon (and so libmpi) RTLD_LOCAL, and Open MPI's components, loaded
 * later with dlopen, need libmpi's symbols global.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                \
  do {                                                             \
    if ((call) != napi_ok) {                                       \
      napi_throw_error(env, NULL, "polyalign_mpi: N-API failure"); \
      return NULL;                                                 \
    }                                                              \
  } while (0)

static int initialized = 0;
static MPI_Comm node_comm = MPI_COMM_NULL;

static napi_value throw_mpi(napi_env env, const char* what, int code) {
  char msg[MPI_MAX_ERROR_STRING + 128];
  char err[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, err, &len) != MPI_SUCCESS) snprintf(err, sizeof err, "error %d", code);
  snprintf(msg, sizeof msg, "polyalign_mpi: %s failed: %s", what, err);
  napi_throw_error(env, "EMPI", msg);
  return NULL;
}

static napi_value set_int(napi_env env, napi_value obj, const char* key, int v) {
  napi_value x;
  if (napi_create_int32(env, v, &x) != napi_ok || napi_set_named_property(env, obj, key, x) != napi_ok) return NULL;
  return obj;
}

static int promote_libmpi(char* why, size_t n) {
  Dl_info info;
  if (!dladdr((void*)&MPI_Init_thread, &info) || !info.dli_fname) {
    snprintf(why, n, "cannot find the library MPI_Init_thread comes from");
    return 0;
  }
  if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
    snprintf(why, n, "cannot re-open %s RTLD_GLOBAL: %s", info.dli_fname, dlerror());
    return 0;
  }
  return 1;
}

/* init() → {rank, size, localRank, localSize, threadLevel, library} */
static napi_value Init(napi_env env, napi_callback_info cbinfo) {
  int flag = 0;
  MPI_Initialized(&flag);
  if (!flag) {
    char why[512];
    if (!promote_libmpi(why, sizeof why)) {
      napi_throw_error(env, "EMPI", why);
      return NULL;
    }
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return throw_mpi(env, "MPI_Init_thread", rc);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    initialized = 1;
  }
  if (node_comm == MPI_COMM_NULL) {
    int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node_comm);
    if (rc != MPI_SUCCESS) return throw_mpi(env, "MPI_Comm_split_type", rc);
  }
  int rank, size, local_rank, local_size, provided;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(node_comm, &local_rank);
  MPI_Comm_size(node_comm, &local_size);
  MPI_Query_thread(&provided);
  napi_value out;
  CHECK(napi_create_object(env, &out));
  if (!set_int(env, out, "rank", rank) || !set_int(env, out, "size", size) || !set_int(env, out, "localRank", local_rank) ||
      !set_int(env, out, "localSize", local_size) || !set_int(env, out, "threadLevel", provided))
    return NULL;
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(lib, &len);
  char* nl = strchr(lib, '\n');
  if (nl) *nl = 0;
  char* comma = strchr(lib, ',');
  if (comma) *comma = 0;
  napi_value s;
  CHECK(napi_create_string_utf8(env, lib, NAPI_AUTO_LENGTH, &s));
  CHECK(napi_set_named_property(env, out, "library", s));
  return out;
}

/* ---- async collectives ---- */

typedef enum { OP_ALLREDUCE, OP_BCAST, OP_ALLGATHER, OP_BARRIER } op_kind;

typedef struct {
  op_kind kind;
  void* send;
  void* recv;
  size_t bytes;      /* send bytes (allreduce: the array; bcast: the array; allgather: this rank's part) */
  int count;         /* float elements for allreduce */
  int root;
  int rc;
  napi_ref refs[2];
  napi_deferred deferred;
  napi_async_work work;
} collective;

static void execute(napi_env env, void* data) {
  collective* c = (collective*)data;
  switch (c->kind) {
    case OP_ALLREDUCE:
      c->rc = MPI_Allreduce(MPI_IN_PLACE, c->send, c->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      break;
    case OP_BCAST: {
      /* in chunks: MPI counts are int */
      size_t done = 0;
      c->rc = MPI_SUCCESS;
      while (done < c->bytes && c->rc == MPI_SUCCESS) {
        size_t n = c->bytes - done > (1u << 30) ? (1u << 30) : c->bytes - done;
        c->rc = MPI_Bcast((char*)c->send + done, (int)n, MPI_BYTE, c->root, MPI_COMM_WORLD);
        done += n;
      }
      break;
    }
    case OP_ALLGATHER:
      c->rc = MPI_Allgather(c->send, (int)c->bytes, MPI_BYTE, c->recv, (int)c->bytes, MPI_BYTE, MPI_COMM_WORLD);
      break;
    case OP_BARRIER:
      c->rc = MPI_Barrier(MPI_COMM_WORLD);
      break;
  }
}

static const char* op_name(op_kind k) {
  return k == OP_ALLREDUCE ? "MPI_Allreduce" : k == OP_BCAST ? "MPI_Bcast" : k == OP_ALLGATHER ? "MPI_Allgather" : "MPI_Barrier";
}

static void complete(napi_env env, napi_status status, void* data) {
  collective* c = (collective*)data;
  for (int i = 0; i < 2; i++)
    if (c->refs[i]) napi_delete_reference(env, c->refs[i]);
  if (status == napi_ok && c->rc == MPI_SUCCESS) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, c->deferred, undef);
  } else {
    char err[MPI_MAX_ERROR_STRING] = "cancelled";
    int len = 0;
    if (status == napi_ok) MPI_Error_string(c->rc, err, &len);
    char msg[MPI_MAX_ERROR_STRING + 64];
    snprintf(msg, sizeof msg, "polyalign_mpi: %s failed: %s", op_name(c->kind), err);
    napi_value m, e, code;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, NULL, m, &e);
    napi_create_string_utf8(env, "EMPI", NAPI_AUTO_LENGTH, &code);
    napi_set_named_property(env, e, "code", code);
    napi_reject_deferred(env, c->deferred, e);
  }
  napi_delete_async_work(env, c->work);
  free(c);
}

static int typed_bytes(napi_env env, napi_value v, void** data, size_t* bytes, napi_typedarray_type* type) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  size_t length, offset;
  napi_value ab;
  napi_typedarray_type t;
  if (napi_get_typedarray_info(env, v, &t, &length, data, &ab, &offset) != napi_ok) return 0;
  size_t el = (t == napi_int8_array || t == napi_uint8_array || t == napi_uint8_clamped_array) ? 1
              : (t == napi_int16_array || t == napi_uint16_array)                              ? 2
              : (t == napi_float64_array || t == napi_bigint64_array || t == napi_biguint64_array) ? 8
                                                                                              : 4;
  *bytes = length * el;
  if (type) *type = t;
  return 1;
}

static napi_value start(napi_env env, collective* c, napi_value* held, int nheld) {
  napi_value promise, name;
  if (!initialized) {
    free(c);
    napi_throw_error(env, "EMPI", "polyalign_mpi: MPI is not initialised (call init first)");
    return NULL;
  }
  for (int i = 0; i < nheld; i++) CHECK(napi_create_reference(env, held[i], 1, &c->refs[i]));
  CHECK(napi_create_promise(env, &c->deferred, &promise));
  CHECK(napi_create_string_utf8(env, op_name(c->kind), NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, execute, complete, c, &c->work));
  CHECK(napi_queue_async_work(env, c->work));
  return promise;
}

/* allreduceSum(Float32Array): in place, resolves when done */
static napi_value AllreduceSum(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  collective* c = calloc(1, sizeof *c);
  napi_typedarray_type t;
  if (argc < 1 || !typed_bytes(env, argv[0], &c->send, &c->bytes, &t) || t != napi_float32_array) {
    free(c);
    napi_throw_type_error(env, NULL, "polyalign_mpi: allreduceSum takes a Float32Array");
    return NULL;
  }
  if (c->bytes / 4 > 0x7fffffff) {
    free(c);
    napi_throw_range_error(env, NULL, "polyalign_mpi: allreduceSum: more than 2^31 floats in one call");
    return NULL;
  }
  c->kind = OP_ALLREDUCE;
  c->count = (int)(c->bytes / 4);
  return start(env, c, argv, 1);
}

/* allreduceSumNow(Float64Array): in place and blocking — for a few numbers a step needs at once (counts, losses) */
static napi_value AllreduceSumNow(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* data;
  size_t bytes;
  napi_typedarray_type t;
  if (argc < 1 || !typed_bytes(env, argv[0], &data, &bytes, &t) || t != napi_float64_array || bytes / 8 > 0x7fffffff) {
    napi_throw_type_error(env, NULL, "polyalign_mpi: allreduceSumNow takes a Float64Array");
    return NULL;
  }
  if (!initialized) {
    napi_throw_error(env, "EMPI", "polyalign_mpi: MPI is not initialised (call init first)");
    return NULL;
  }
  int rc = MPI_Allreduce(MPI_IN_PLACE, data, (int)(bytes / 8), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return throw_mpi(env, "MPI_Allreduce", rc);
  return NULL;
}

/* allgatherNow(send, recv): blocking — for the few floats a step gathers at once (ITC's queue features) */
static napi_value AllgatherNow(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *send, *recv;
  size_t send_bytes = 0, recv_bytes = 0;
  if (argc < 2 || !typed_bytes(env, argv[0], &send, &send_bytes, NULL) || !typed_bytes(env, argv[1], &recv, &recv_bytes, NULL)) {
    napi_throw_type_error(env, NULL, "polyalign_mpi: allgatherNow takes a send and a receive typed array");
    return NULL;
  }
  if (!initialized) {
    napi_throw_error(env, "EMPI", "polyalign_mpi: MPI is not initialised (call init first)");
    return NULL;
  }
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (recv_bytes != send_bytes * (size_t)size || send_bytes > 0x7fffffff) {
    napi_throw_range_error(env, NULL, "polyalign_mpi: allgatherNow: the receive array must hold size × the send array's bytes");
    return NULL;
  }
  int rc = MPI_Allgather(send, (int)send_bytes, MPI_BYTE, recv, (int)send_bytes, MPI_BYTE, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return throw_mpi(env, "MPI_Allgather", rc);
  return NULL;
}

/* bcast(TypedArray, root) */
static napi_value Bcast(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  collective* c = calloc(1, sizeof *c);
  if (argc < 2 || !typed_bytes(env, argv[0], &c->send, &c->bytes, NULL) || napi_get_value_int32(env, argv[1], &c->root) != napi_ok) {
    free(c);
    napi_throw_type_error(env, NULL, "polyalign_mpi: bcast takes a typed array and the root rank");
    return NULL;
  }
  c->kind = OP_BCAST;
  return start(env, c, argv, 1);
}

/* allgather(send TypedArray, recv TypedArray of size × send bytes) */
static napi_value Allgather(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  collective* c = calloc(1, sizeof *c);
  size_t recv_bytes = 0;
  if (argc < 2 || !typed_bytes(env, argv[0], &c->send, &c->bytes, NULL) || !typed_bytes(env, argv[1], &c->recv, &recv_bytes, NULL)) {
    free(c);
    napi_throw_type_error(env, NULL, "polyalign_mpi: allgather takes a send and a receive typed array");
    return NULL;
  }
  int size = 1;
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (recv_bytes != c->bytes * (size_t)size || c->bytes > 0x7fffffff) {
    free(c);
    napi_throw_range_error(env, NULL, "polyalign_mpi: allgather: the receive array must hold size × the send array's bytes");
    return NULL;
  }
  c->kind = OP_ALLGATHER;
  return start(env, c, argv, 2);
}

static napi_value Barrier(napi_env env, napi_callback_info info) {
  collective* c = calloc(1, sizeof *c);
  c->kind = OP_BARRIER;
  return start(env, c, NULL, 0);
}

static napi_value Finalize(napi_env env, napi_callback_info info) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (initialized && !fin) {
    if (node_comm != MPI_COMM_NULL) MPI_Comm_free(&node_comm);
    MPI_Finalize();
  }
  initialized = 0;
  return NULL;
}

/* abort(code): ends every rank of the job (what a rank does when it cannot go on) */
static napi_value Abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int code = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc > 0) napi_get_value_int32(env, argv[0], &code);
  if (initialized) MPI_Abort(MPI_COMM_WORLD, code);
  return NULL;
}

static napi_value Export(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"allreduceSum", NULL, AllreduceSum, NULL, NULL, NULL, napi_default, NULL},
      {"allreduceSumNow", NULL, AllreduceSumNow, NULL, NULL, NULL, napi_default, NULL},
      {"allgatherNow", NULL, AllgatherNow, NULL, NULL, NULL, napi_default, NULL},
      {"bcast", NULL, Bcast, NULL, NULL, NULL, napi_default, NULL},
      {"allgather", NULL, Allgather, NULL, NULL, NULL, napi_default, NULL},
      {"barrier", NULL, Barrier, NULL, NULL, NULL, napi_default, NULL},
      {"finalize", NULL, Finalize, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, Abort, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Export)
