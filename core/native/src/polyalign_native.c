/*
 * polyalign native CPU kernels (Node-API, C): OpenBLAS sgemm for batched
 * matrix products, and strided elementwise, transpose, reduction and softmax
 * loops for float32. Every function is synchronous and works on the caller's
 * typed arrays; shapes arrive already collapsed by the JS side, and every
 * length and offset is checked here before any memory is touched.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#ifdef POLYALIGN_HAVE_CBLAS
#include <cblas.h>
extern void openblas_set_num_threads(int);
#endif
#include <malloc.h>
#include <math.h>
#ifndef M_SQRT1_2
#define M_SQRT1_2 0.70710678118654752440
#endif
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "image_ops.h"
#include "parallel.h"

#define MAX_RANK 8

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "polyalign_native: N-API failure"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

#define FAIL(msg)                                  \
  do {                                             \
    napi_throw_range_error(env, NULL, "polyalign_native: " msg); \
    return NULL;                                   \
  } while (0)

#ifndef POLYALIGN_HAVE_CBLAS
/*
 * Without OpenBLAS: a plain C sgemm (row-major, C = op(A)·op(B)), i-k-j order
 * with op(B) packed row-major so the inner loop is contiguous and vectorises.
 * Single-threaded; a fraction of OpenBLAS's speed, far above JS.
 */
static void builtin_sgemm(int ta, int tb, int m, int n, int k, const float* A, int lda, const float* B, int ldb, float* C, int ldc) {
  float* Bp = (float*)malloc((size_t)k * n * sizeof(float));
  if (!Bp) return;
  for (int p = 0; p < k; p++)
    for (int j = 0; j < n; j++) Bp[(size_t)p * n + j] = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
  for (int i = 0; i < m; i++) {
    float* c = C + (size_t)i * ldc;
    for (int j = 0; j < n; j++) c[j] = 0.0f;
    for (int p = 0; p < k; p++) {
      const float a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
      if (a == 0.0f) continue;
      const float* b = Bp + (size_t)p * n;
      for (int j = 0; j < n; j++) c[j] += a * b[j];
    }
  }
  free(Bp);
}
#endif

typedef struct {
  void* data;
  size_t length;
  napi_typedarray_type type;
} Array;

static int get_array(napi_env env, napi_value v, napi_typedarray_type want, Array* out) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &out->type, &out->length, &out->data, &ab, &off) != napi_ok) return 0;
  return out->type == want;
}

static int get_i64(napi_env env, napi_value v, int64_t* out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

/* ---- threads ------------------------------------------------------------ */

/* the smallest call (batch·m·n·k multiply-adds) worth the pool's threads */
static double pa_mt_min_macs = 8.0 * 1024 * 1024;

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t n;
  if (argc < 1 || !get_i64(env, argv[0], &n) || n < 1 || n > 1024) FAIL("setThreads(n): n must be 1..1024");
  pa_pool_set_threads((int)n);
  return NULL;
}

static void set_gemm_min(double macs) { pa_mt_min_macs = macs; }
static double gemm_min(void) { return pa_mt_min_macs; }

/* A threshold setter: the new value (a number >= 0) in, the previous one out. */
static napi_value swap_threshold(napi_env env, napi_callback_info info, double (*get)(void), void (*set)(double), const char* usage) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double w;
  if (argc < 1 || napi_get_value_double(env, argv[0], &w) != napi_ok || !(w >= 0)) {
    napi_throw_range_error(env, NULL, usage);
    return NULL;
  }
  napi_value r;
  CHECK(napi_create_double(env, get(), &r));
  set(w);
  return r;
}

/* setParallelMinWork(work) → the previous threshold: below it (in cost units, a float add = 1) a kernel stays on one thread */
static napi_value set_parallel_min_work(napi_env env, napi_callback_info info) {
  return swap_threshold(env, info, pa_pool_min_work, pa_pool_set_min_work, "polyalign_native: setParallelMinWork(work): work must be a number >= 0");
}

/* setGemmMinMacs(macs) → the previous POLYALIGN_GEMM_MT_MIN: below it a matrix-product call stays on one thread */
static napi_value set_gemm_min_macs(napi_env env, napi_callback_info info) {
  return swap_threshold(env, info, gemm_min, set_gemm_min, "polyalign_native: setGemmMinMacs(macs): macs must be a number >= 0");
}

/* "openblas" or "builtin": which sgemm this build uses */
static napi_value blas_name(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
#ifdef POLYALIGN_HAVE_CBLAS
  CHECK(napi_create_string_utf8(env, "openblas", NAPI_AUTO_LENGTH, &r));
#else
  CHECK(napi_create_string_utf8(env, "builtin", NAPI_AUTO_LENGTH, &r));
#endif
  return r;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CHECK(napi_create_int32(env, pa_pool_threads(), &r));
  return r;
}

typedef struct {
  const float *A, *B;
  float* out;
  const int32_t *aoff, *boff;
  int m, n, k, lda, ldb;
  bool ta, tb;
  /* each product's rows of C are cut into this many pieces, one task each */
  int pieces;
} GemmJob;

static void sgemm_rows(const GemmJob* j, int64_t i, int r0, int r1) {
  /* rows r0..r1 of op(A): rows of A, or columns of A when it is transposed */
  const float* a = j->A + j->aoff[i] + (j->ta ? (size_t)r0 : (size_t)r0 * j->lda);
  float* c = j->out + i * (size_t)j->m * j->n + (size_t)r0 * j->n;
#ifdef POLYALIGN_HAVE_CBLAS
  cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, r1 - r0, j->n, j->k, 1.0f, a, j->lda, j->B + j->boff[i],
              j->ldb, 0.0f, c, j->n);
#else
  builtin_sgemm(j->ta, j->tb, r1 - r0, j->n, j->k, a, j->lda, j->B + j->boff[i], j->ldb, c, j->n);
#endif
}

/* tasks [begin, end) of batch × pieces */
static void gemm_range(void* ctx, int64_t begin, int64_t end) {
  const GemmJob* j = (const GemmJob*)ctx;
  for (int64_t t = begin; t < end; t++) {
    const int64_t i = t / j->pieces, p = t % j->pieces;
    const int r0 = (int)((int64_t)j->m * p / j->pieces), r1 = (int)((int64_t)j->m * (p + 1) / j->pieces);
    if (r1 > r0) sgemm_rows(j, i, r0, r1);
  }
}

/*
 * gemmBatched(a, b, out, aOffsets: Int32Array, bOffsets: Int32Array, m, n, k, transA, transB)
 * out[i] (m x n, row-major, at i*m*n) = op(a at aOffsets[i]) * op(b at bOffsets[i]).
 */
static napi_value gemm_batched(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 10) FAIL("gemmBatched: 10 arguments expected");
  Array a, b, c, ao, bo;
  if (!get_array(env, argv[0], napi_float32_array, &a) || !get_array(env, argv[1], napi_float32_array, &b) ||
      !get_array(env, argv[2], napi_float32_array, &c))
    FAIL("gemmBatched: a, b, out must be Float32Array");
  if (!get_array(env, argv[3], napi_int32_array, &ao) || !get_array(env, argv[4], napi_int32_array, &bo) ||
      ao.length != bo.length)
    FAIL("gemmBatched: offsets must be Int32Arrays of equal length");
  int64_t m, n, k;
  bool ta, tb;
  if (!get_i64(env, argv[5], &m) || !get_i64(env, argv[6], &n) || !get_i64(env, argv[7], &k) || m < 0 || n < 0 ||
      k < 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
    FAIL("gemmBatched: m, n, k must be int32 >= 0");
  CHECK(napi_get_value_bool(env, argv[8], &ta));
  CHECK(napi_get_value_bool(env, argv[9], &tb));
  size_t batch = ao.length;
  if ((size_t)(m * n) * batch != c.length) FAIL("gemmBatched: out length != batch*m*n");
  const int32_t* aoff = (const int32_t*)ao.data;
  const int32_t* boff = (const int32_t*)bo.data;
  for (size_t i = 0; i < batch; i++) {
    if (aoff[i] < 0 || (size_t)aoff[i] + (size_t)(m * k) > a.length) FAIL("gemmBatched: a offset out of range");
    if (boff[i] < 0 || (size_t)boff[i] + (size_t)(k * n) > b.length) FAIL("gemmBatched: b offset out of range");
  }
  float* out = (float*)c.data;
  if (m == 0 || n == 0) return NULL;
  if (k == 0) {
    memset(out, 0, c.length * sizeof(float));
    return NULL;
  }
  const float* A = (const float*)a.data;
  const float* B = (const float*)b.data;
  int lda = ta ? (int)m : (int)k;
  int ldb = tb ? (int)k : (int)n;
  /*
   * OpenBLAS always runs on the calling thread; the pool spreads the products of a batch, or
   * row blocks of one product, over its threads. OpenBLAS's own threads wait for work spinning,
   * and beside the data workers on two cores that made a 544×64×64 product take 1.9 ms on two
   * threads against 74 µs on one. Below POLYALIGN_GEMM_MT_MIN multiply-adds a call stays serial.
   * A batch's products are each computed whole, bit-identical to one thread; a product cut into
   * row blocks equals the whole to rounding (OpenBLAS takes other paths for a block's edge rows).
   */
  GemmJob job = {A, B, out, aoff, boff, (int)m, (int)n, (int)k, lda, ldb, ta, tb, 1};
  const double macs = (double)m * (double)n * (double)k * (double)batch;
  const int threads = pa_pool_threads();
  if (threads < 2 || macs < pa_mt_min_macs) {
    gemm_range(&job, 0, (int64_t)batch);
    return NULL;
  }
  if ((int)batch < threads) {
    /* enough pieces for every thread, none thinner than 8 rows */
    int pieces = (threads + (int)batch - 1) / (int)batch;
    if (pieces > m / 8) pieces = m / 8 > 1 ? (int)(m / 8) : 1;
    job.pieces = pieces;
  }
  pa_parallel_for((int64_t)batch * job.pieces, INFINITY, gemm_range, &job);
  return NULL;
}

/* ---- strided iteration helpers -------------------------------------------- */

static int read_shape(napi_env env, napi_value v, int64_t* dst, int* rank) {
  Array s;
  if (!get_array(env, v, napi_int32_array, &s) || s.length > MAX_RANK) return 0;
  const int32_t* p = (const int32_t*)s.data;
  for (size_t i = 0; i < s.length; i++) {
    if (p[i] < 0) return 0;
    dst[i] = p[i];
  }
  *rank = (int)s.length;
  return 1;
}

/* Largest flat index reachable with these strides (for bounds checks). */
static int64_t reach(const int64_t* shape, const int64_t* strides, int rank) {
  int64_t r = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 0) return -1;
    r += (shape[d] - 1) * strides[d];
  }
  return r;
}

enum { OP_ADD = 0, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_SQDIFF, OP_POW };

#define BINARY_LOOP(EXPR)                                                        \
  for (int64_t i = 0; i < inner; i++) {                                          \
    float x = pa[i * sa], y = pb[i * sb];                                        \
    po[i] = (EXPR);                                                              \
  }

static void binary_inner(int op, const float* pa, int64_t sa, const float* pb, int64_t sb, float* po, int64_t inner) {
  switch (op) {
    case OP_ADD:
      if (sa == 1 && sb == 1) {
        for (int64_t i = 0; i < inner; i++) po[i] = pa[i] + pb[i];
      } else if (sa == 1 && sb == 0) {
        float y = pb[0];
        for (int64_t i = 0; i < inner; i++) po[i] = pa[i] + y;
      } else if (sa == 0 && sb == 1) {
        float x = pa[0];
        for (int64_t i = 0; i < inner; i++) po[i] = x + pb[i];
      } else {
        BINARY_LOOP(x + y)
      }
      break;
    case OP_SUB:
      if (sa == 1 && sb == 1) {
        for (int64_t i = 0; i < inner; i++) po[i] = pa[i] - pb[i];
      } else if (sa == 1 && sb == 0) {
        float y = pb[0];
        for (int64_t i = 0; i < inner; i++) po[i] = pa[i] - y;
      } else {
        BINARY_LOOP(x - y)
      }
      break;
    case OP_MUL:
      if (sa == 1 && sb == 1) {
        for (int64_t i = 0; i < inner; i++) po[i] = pa[i] * pb[i];
      } else if (sa == 1 && sb == 0) {
        float y = pb[0];
        for (int64_t i = 0; i < inner; i++) po[i] = pa[i] * y;
      } else if (sa == 0 && sb == 1) {
        float x = pa[0];
        for (int64_t i = 0; i < inner; i++) po[i] = x * pb[i];
      } else {
        BINARY_LOOP(x * y)
      }
      break;
    case OP_DIV:
      if (sa == 1 && sb == 1) {
        for (int64_t i = 0; i < inner; i++) po[i] = pa[i] / pb[i];
      } else {
        BINARY_LOOP(x / y)
      }
      break;
    case OP_MAX:
      BINARY_LOOP((isnan(x) || isnan(y)) ? NAN : (x > y ? x : y))
      break;
    case OP_MIN:
      BINARY_LOOP((isnan(x) || isnan(y)) ? NAN : (x < y ? x : y))
      break;
    case OP_SQDIFF:
      BINARY_LOOP((x - y) * (x - y))
      break;
    case OP_POW:
      BINARY_LOOP(powf(x, y))
      break;
  }
}

typedef struct {
  int op;
  const float *A, *B;
  float* O;
  const int64_t *shape, *as, *bs;
  int rank;
} BinaryJob;

/* output elements [begin, end): the rows they fall in, the first and last possibly partial */
static void binary_range(void* ctx, int64_t begin, int64_t end) {
  const BinaryJob* j = (const BinaryJob*)ctx;
  const int r = j->rank;
  const int64_t inner = j->shape[r - 1], sa = j->as[r - 1], sb = j->bs[r - 1];
  int64_t idx[MAX_RANK] = {0};
  int64_t offa = 0, offb = 0;
  int64_t row = begin / inner, i0 = begin % inner;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = row % j->shape[d];
    row /= j->shape[d];
    offa += idx[d] * j->as[d];
    offb += idx[d] * j->bs[d];
  }
  int64_t at = begin;
  while (at < end) {
    const int64_t len = inner - i0 < end - at ? inner - i0 : end - at;
    binary_inner(j->op, j->A + offa + i0 * sa, sa, j->B + offb + i0 * sb, sb, j->O + at, len);
    at += len;
    i0 = 0;
    for (int d = r - 2; d >= 0; d--) {
      idx[d]++;
      offa += j->as[d];
      offb += j->bs[d];
      if (idx[d] < j->shape[d]) break;
      offa -= j->as[d] * j->shape[d];
      offb -= j->bs[d] * j->shape[d];
      idx[d] = 0;
    }
  }
}

/*
 * binary(op, a, b, out, shape: Int32Array, aStrides: Int32Array, bStrides: Int32Array)
 * Broadcast dims have stride 0. The last dim is the inner loop.
 */
static napi_value binary(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) FAIL("binary: 7 arguments expected");
  int64_t op;
  Array a, b, o;
  if (!get_i64(env, argv[0], &op) || op < OP_ADD || op > OP_POW) FAIL("binary: unknown op");
  if (!get_array(env, argv[1], napi_float32_array, &a) || !get_array(env, argv[2], napi_float32_array, &b) ||
      !get_array(env, argv[3], napi_float32_array, &o))
    FAIL("binary: a, b, out must be Float32Array");
  int64_t shape[MAX_RANK], as[MAX_RANK], bs[MAX_RANK];
  int r1, r2, r3;
  if (!read_shape(env, argv[4], shape, &r1) || !read_shape(env, argv[5], as, &r2) || !read_shape(env, argv[6], bs, &r3) ||
      r1 != r2 || r1 != r3 || r1 < 1)
    FAIL("binary: shape and strides must be Int32Arrays of one rank (1..8)");
  int64_t total = 1;
  for (int d = 0; d < r1; d++) total *= shape[d];
  if ((size_t)total != o.length) FAIL("binary: out length != product(shape)");
  if (total == 0) return NULL;
  if (reach(shape, as, r1) >= (int64_t)a.length || reach(shape, bs, r1) >= (int64_t)b.length)
    FAIL("binary: strides reach past an input");
  BinaryJob job = {(int)op, (const float*)a.data, (const float*)b.data, (float*)o.data, shape, as, bs, r1};
  pa_parallel_for(total, op == OP_POW ? 8.0 : op == OP_DIV ? 2.0 : 1.0, binary_range, &job);
  return NULL;
}

enum { U_EXP = 0, U_ERF, U_TANH, U_NEG, U_SQUARE, U_RSQRT, U_SQRT, U_LOG, U_SIGMOID, U_RELU, U_ABS, U_RECIPROCAL, U_FLOOR };

typedef struct {
  int op;
  const float* X;
  float* O;
} UnaryJob;

static void unary_range(void* ctx, int64_t begin, int64_t end) {
  const UnaryJob* j = (const UnaryJob*)ctx;
  const float* X = j->X + begin;
  float* O = j->O + begin;
  const int64_t n = end - begin;
  switch (j->op) {
    case U_EXP: for (int64_t i = 0; i < n; i++) O[i] = expf(X[i]); break;
    case U_ERF: for (int64_t i = 0; i < n; i++) O[i] = erff(X[i]); break;
    case U_TANH: for (int64_t i = 0; i < n; i++) O[i] = tanhf(X[i]); break;
    case U_NEG: for (int64_t i = 0; i < n; i++) O[i] = -X[i]; break;
    case U_SQUARE: for (int64_t i = 0; i < n; i++) O[i] = X[i] * X[i]; break;
    case U_RSQRT: for (int64_t i = 0; i < n; i++) O[i] = 1.0f / sqrtf(X[i]); break;
    case U_SQRT: for (int64_t i = 0; i < n; i++) O[i] = sqrtf(X[i]); break;
    case U_LOG: for (int64_t i = 0; i < n; i++) O[i] = logf(X[i]); break;
    case U_SIGMOID: for (int64_t i = 0; i < n; i++) O[i] = 1.0f / (1.0f + expf(-X[i])); break;
    case U_RELU: for (int64_t i = 0; i < n; i++) O[i] = X[i] > 0 ? X[i] : (isnan(X[i]) ? X[i] : 0.0f); break;
    case U_ABS: for (int64_t i = 0; i < n; i++) O[i] = fabsf(X[i]); break;
    case U_RECIPROCAL: for (int64_t i = 0; i < n; i++) O[i] = 1.0f / X[i]; break;
    case U_FLOOR: for (int64_t i = 0; i < n; i++) O[i] = floorf(X[i]); break;
  }
}

/* unary(op, x, out) over contiguous arrays of equal length */
static napi_value unary(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t op;
  Array x, o;
  if (argc < 3 || !get_i64(env, argv[0], &op) || !get_array(env, argv[1], napi_float32_array, &x) ||
      !get_array(env, argv[2], napi_float32_array, &o) || x.length != o.length)
    FAIL("unary(op, x, out): Float32Arrays of equal length expected");
  if (op < U_EXP || op > U_FLOOR) FAIL("unary: unknown op");
  UnaryJob job = {(int)op, (const float*)x.data, (float*)o.data};
  const int costly = op == U_EXP || op == U_ERF || op == U_TANH || op == U_LOG || op == U_SIGMOID;
  pa_parallel_for((int64_t)x.length, costly ? 8.0 : 1.0, unary_range, &job);
  return NULL;
}

typedef struct {
  const float* X;
  float* O;
  const int64_t *oshape, *ostr;
  int rank;
} TransposeJob;

/* output elements [begin, end) */
static void transpose_range(void* ctx, int64_t begin, int64_t end) {
  const TransposeJob* j = (const TransposeJob*)ctx;
  const int r = j->rank;
  const int64_t inner = j->oshape[r - 1], is = j->ostr[r - 1];
  int64_t idx[MAX_RANK] = {0};
  int64_t off = 0;
  int64_t row = begin / inner, i0 = begin % inner;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = row % j->oshape[d];
    row /= j->oshape[d];
    off += idx[d] * j->ostr[d];
  }
  int64_t at = begin;
  while (at < end) {
    const int64_t len = inner - i0 < end - at ? inner - i0 : end - at;
    float* po = j->O + at;
    const float* px = j->X + off + i0 * is;
    for (int64_t i = 0; i < len; i++) po[i] = px[i * is];
    at += len;
    i0 = 0;
    for (int d = r - 2; d >= 0; d--) {
      idx[d]++;
      off += j->ostr[d];
      if (idx[d] < j->oshape[d]) break;
      off -= j->ostr[d] * j->oshape[d];
      idx[d] = 0;
    }
  }
}

/*
 * transpose(x, out, inShape: Int32Array, perm: Int32Array). Iterates the output
 * in order; the innermost output dim reads the input with its stride.
 */
static napi_value transpose(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array x, o;
  int64_t shape[MAX_RANK], perm[MAX_RANK];
  int r, rp;
  if (argc < 4 || !get_array(env, argv[0], napi_float32_array, &x) || !get_array(env, argv[1], napi_float32_array, &o) ||
      x.length != o.length || !read_shape(env, argv[2], shape, &r) || !read_shape(env, argv[3], perm, &rp) || r != rp ||
      r < 1)
    FAIL("transpose(x, out, shape, perm): bad arguments");
  int64_t in_strides[MAX_RANK], oshape[MAX_RANK], ostr[MAX_RANK];
  int64_t total = 1;
  for (int d = r - 1; d >= 0; d--) {
    in_strides[d] = total;
    total *= shape[d];
  }
  if ((size_t)total != x.length) FAIL("transpose: length != product(shape)");
  int seen = 0;
  for (int d = 0; d < r; d++) {
    if (perm[d] < 0 || perm[d] >= r || (seen & (1 << perm[d]))) FAIL("transpose: perm is not a permutation");
    seen |= 1 << perm[d];
    oshape[d] = shape[perm[d]];
    ostr[d] = in_strides[perm[d]];
  }
  if (total == 0) return NULL;
  TransposeJob job = {(const float*)x.data, (float*)o.data, oshape, ostr, r};
  pa_parallel_for(total, 2.0, transpose_range, &job);
  return NULL;
}

enum { R_SUM = 0, R_MAX, R_MIN, R_PROD };

typedef struct {
  int op;
  const float* X;
  float* O;
  int64_t n, inner;
} ReduceJob;

static void reduce_rows_range(void* ctx, int64_t begin, int64_t end);
static void reduce_cols_range(void* ctx, int64_t begin, int64_t end);

/*
 * reduceRows(op, x, out, outer, n): out[i] = reduce(x[i*n .. i*n+n)) — reduction
 * over the trailing contiguous block (the JS side transposes or uses reduceCols).
 */
static napi_value reduce_rows(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t op, outer, n;
  Array x, o;
  if (argc < 5 || !get_i64(env, argv[0], &op) || !get_array(env, argv[1], napi_float32_array, &x) ||
      !get_array(env, argv[2], napi_float32_array, &o) || !get_i64(env, argv[3], &outer) || !get_i64(env, argv[4], &n) ||
      outer < 0 || n < 0 || (size_t)(outer * n) != x.length || (size_t)outer != o.length)
    FAIL("reduceRows(op, x, out, outer, n): bad arguments");
  if (op < R_SUM || op > R_PROD) FAIL("reduceRows: unknown op");
  ReduceJob job = {(int)op, (const float*)x.data, (float*)o.data, n, 0};
  pa_parallel_for(outer, (double)(n > 0 ? n : 1), reduce_rows_range, &job);
  return NULL;
}

static void reduce_rows_range(void* ctx, int64_t begin, int64_t end) {
  const ReduceJob* jb = (const ReduceJob*)ctx;
  const float* X = jb->X;
  float* O = jb->O;
  const int64_t n = jb->n;
  for (int64_t i = begin; i < end; i++) {
    const float* p = X + i * n;
    double acc;
    switch (jb->op) {
      case R_SUM: {
        acc = 0.0;
        for (int64_t j = 0; j < n; j++) acc += p[j];
        O[i] = (float)acc;
        break;
      }
      case R_MAX: {
        float m = n > 0 ? p[0] : -INFINITY;
        for (int64_t j = 1; j < n; j++) if (p[j] > m || isnan(p[j])) m = p[j];
        O[i] = m;
        break;
      }
      case R_MIN: {
        float m = n > 0 ? p[0] : INFINITY;
        for (int64_t j = 1; j < n; j++) if (p[j] < m || isnan(p[j])) m = p[j];
        O[i] = m;
        break;
      }
      case R_PROD: {
        acc = 1.0;
        for (int64_t j = 0; j < n; j++) acc *= p[j];
        O[i] = (float)acc;
        break;
      }
    }
  }
}

/*
 * reduceCols(op, x, out, outer, n, inner): x is [outer, n, inner]; out[o, i] =
 * reduce over the middle axis. Accumulates row by row (cache friendly).
 */
static napi_value reduce_cols(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t op, outer, n, inner;
  Array x, o;
  if (argc < 6 || !get_i64(env, argv[0], &op) || !get_array(env, argv[1], napi_float32_array, &x) ||
      !get_array(env, argv[2], napi_float32_array, &o) || !get_i64(env, argv[3], &outer) || !get_i64(env, argv[4], &n) ||
      !get_i64(env, argv[5], &inner) || outer < 0 || n < 0 || inner < 0 ||
      (size_t)(outer * n * inner) != x.length || (size_t)(outer * inner) != o.length)
    FAIL("reduceCols(op, x, out, outer, n, inner): bad arguments");
  if (op < R_SUM || op > R_PROD) FAIL("reduceCols: unknown op");
  ReduceJob job = {(int)op, (const float*)x.data, (float*)o.data, n, inner};
  pa_parallel_for(outer * inner, (double)(n > 0 ? n : 1), reduce_cols_range, &job);
  return NULL;
}

/* output elements [begin, end) of [outer, inner], in runs that stay inside one outer block */
static void reduce_cols_range(void* ctx, int64_t begin, int64_t end) {
  const ReduceJob* jb = (const ReduceJob*)ctx;
  const int64_t n = jb->n, inner = jb->inner;
  const int op = jb->op;
  int64_t at = begin;
  while (at < end) {
    const int64_t q = at / inner, i0 = at % inner;
    const int64_t len = inner - i0 < end - at ? inner - i0 : end - at;
    float* po = jb->O + at;
    const float* px = jb->X + q * n * inner + i0;
    at += len;
    if (n == 0) {
      float v = op == R_SUM ? 0.0f : op == R_PROD ? 1.0f : op == R_MAX ? -INFINITY : INFINITY;
      for (int64_t i = 0; i < len; i++) po[i] = v;
      continue;
    }
    memcpy(po, px, (size_t)len * sizeof(float));
    for (int64_t j = 1; j < n; j++) {
      const float* row = px + j * inner;
      switch (op) {
        case R_SUM: for (int64_t i = 0; i < len; i++) po[i] += row[i]; break;
        case R_PROD: for (int64_t i = 0; i < len; i++) po[i] *= row[i]; break;
        case R_MAX: for (int64_t i = 0; i < len; i++) if (row[i] > po[i] || isnan(row[i])) po[i] = row[i]; break;
        case R_MIN: for (int64_t i = 0; i < len; i++) if (row[i] < po[i] || isnan(row[i])) po[i] = row[i]; break;
      }
    }
  }
}

/* ---- row-wise kernels: each row (or element) is computed by one thread --- */

/* up to 4 inputs and 3 outputs of a row-wise kernel, its row length, and scalars */
typedef struct {
  const float* in[5];
  float* out[3];
  int64_t n;
  double scalar[2];
  double* scratch;
} RowsJob;

static void softmax_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const int64_t n = jb->n;
  for (int64_t r = begin; r < end; r++) {
    const float* p = jb->in[0] + r * n;
    float* q = jb->out[0] + r * n;
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) if (p[j] > m) m = p[j];
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) {
      q[j] = expf(p[j] - m);
      s += q[j];
    }
    float inv = 1.0f / s;
    for (int64_t j = 0; j < n; j++) q[j] *= inv;
  }
}

/* softmax(x, out, rows, n): softmax over each contiguous row of n values. */
static napi_value softmax(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t rows, n;
  Array x, o;
  if (argc < 4 || !get_array(env, argv[0], napi_float32_array, &x) || !get_array(env, argv[1], napi_float32_array, &o) ||
      !get_i64(env, argv[2], &rows) || !get_i64(env, argv[3], &n) || rows < 0 || n < 0 ||
      (size_t)(rows * n) != x.length || x.length != o.length)
    FAIL("softmax(x, out, rows, n): bad arguments");
  RowsJob job = {{(const float*)x.data}, {(float*)o.data}, n, {0}, NULL};
  pa_parallel_for(rows, 8.0 * (double)n, softmax_range, &job);
  return NULL;
}

static void add_bias_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const int64_t n = jb->n;
  const float* B = jb->in[0];
  for (int64_t r = begin; r < end; r++) {
    float* p = jb->out[0] + r * n;
    for (int64_t j = 0; j < n; j++) p[j] += B[j];
  }
}

/* addBias(x, bias): x [rows, n] += bias [n], in place. */
static napi_value add_bias(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array x, b;
  if (argc < 2 || !get_array(env, argv[0], napi_float32_array, &x) || !get_array(env, argv[1], napi_float32_array, &b) ||
      b.length == 0 || x.length % b.length != 0)
    FAIL("addBias(x, bias): x length must be a multiple of bias length");
  RowsJob job = {{(const float*)b.data}, {(float*)x.data}, (int64_t)b.length, {0}, NULL};
  pa_parallel_for((int64_t)(x.length / b.length), (double)b.length, add_bias_range, &job);
  return NULL;
}

static void adamw_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const float *P = jb->in[0], *M = jb->in[1], *V = jb->in[2], *G = jb->in[3], *c = jb->in[4];
  float *PO = jb->out[0], *MO = jb->out[1], *VO = jb->out[2];
  const float decay = c[0], b1 = c[1], omb1 = c[2], b2 = c[3], omb2 = c[4], sqrt_bc2 = c[5], eps = c[6], step = c[7];
  for (int64_t i = begin; i < end; i++) {
    float pd = P[i] * decay;
    float mi = M[i] * b1 + G[i] * omb1;
    float vi = V[i] * b2 + (G[i] * G[i]) * omb2;
    float denom = sqrtf(vi) / sqrt_bc2 + eps;
    MO[i] = mi;
    VO[i] = vi;
    PO[i] = pd - (mi / denom) * step;
  }
}

/* adamw(p, m, v, g, pOut, mOut, vOut, coeffs): one AdamW step in PyTorch's order (see ops.ts). */
static napi_value adamw(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array a[8];
  int ok = argc >= 8;
  for (int i = 0; ok && i < 8; i++) ok = get_array(env, argv[i], napi_float32_array, &a[i]);
  for (int i = 1; ok && i < 7; i++) ok = a[i].length == a[0].length;
  if (!ok || a[7].length < 8) FAIL("adamw(p, m, v, g, pOut, mOut, vOut, coeffs): 7 Float32Arrays of one length and 8 coefficients");
  RowsJob job = {{(const float*)a[0].data, (const float*)a[1].data, (const float*)a[2].data, (const float*)a[3].data, (const float*)a[7].data},
                 {(float*)a[4].data, (float*)a[5].data, (float*)a[6].data},
                 1,
                 {0},
                 NULL};
  pa_parallel_for((int64_t)a[0].length, 6.0, adamw_range, &job);
  return NULL;
}

static void softmax_grad_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const int64_t n = jb->n;
  const float *DY = jb->in[0], *Y = jb->in[1];
  float* DX = jb->out[0];
  for (int64_t r = begin; r < end; r++) {
    const int64_t o = r * n;
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += (double)DY[o + j] * Y[o + j];
    for (int64_t j = 0; j < n; j++) DX[o + j] = (float)(Y[o + j] * (DY[o + j] - s));
  }
}

/* softmaxGrad(dy, y, dx, rows, n): dx = y·(dy − Σ dy·y) per row (the sum in double) */
static napi_value softmax_grad(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array dy, y, dx;
  int64_t rows = 0, n = 0;
  if (argc < 5 || !get_array(env, argv[0], napi_float32_array, &dy) || !get_array(env, argv[1], napi_float32_array, &y) ||
      !get_array(env, argv[2], napi_float32_array, &dx) || !get_i64(env, argv[3], &rows) || !get_i64(env, argv[4], &n) || rows < 0 || n <= 0 ||
      dy.length != (size_t)(rows * n) || y.length != dy.length || dx.length != dy.length)
    FAIL("softmaxGrad(dy, y, dx, rows, n): Float32Arrays of rows·n");
  RowsJob job = {{(const float*)dy.data, (const float*)y.data}, {(float*)dx.data}, n, {0}, NULL};
  pa_parallel_for(rows, 3.0 * (double)n, softmax_grad_range, &job);
  return NULL;
}

/* ---- exact GELU ---------------------------------------------------------- */

static void gelu_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const float* X = jb->in[0];
  float* O = jb->out[0];
  for (int64_t i = begin; i < end; i++) O[i] = (float)(0.5 * X[i] * (1.0 + erf(X[i] * M_SQRT1_2)));
}

/* gelu(x, out) */
static napi_value gelu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array x, o;
  if (argc < 2 || !get_array(env, argv[0], napi_float32_array, &x) || !get_array(env, argv[1], napi_float32_array, &o) || o.length != x.length)
    FAIL("gelu(x, out): Float32Arrays of one length");
  RowsJob job = {{(const float*)x.data}, {(float*)o.data}, 1, {0}, NULL};
  pa_parallel_for((int64_t)x.length, 12.0, gelu_range, &job);
  return NULL;
}

static void gelu_grad_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const float *DY = jb->in[0], *X = jb->in[1];
  float* DX = jb->out[0];
  const double c = 0.3989422804014327; /* 1/sqrt(2 pi) */
  for (int64_t i = begin; i < end; i++) {
    const double v = X[i];
    DX[i] = (float)(DY[i] * (0.5 * (1.0 + erf(v * M_SQRT1_2)) + v * c * exp(-0.5 * v * v)));
  }
}

/* geluGrad(dy, x, dx) */
static napi_value gelu_grad(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array dy, x, dx;
  if (argc < 3 || !get_array(env, argv[0], napi_float32_array, &dy) || !get_array(env, argv[1], napi_float32_array, &x) ||
      !get_array(env, argv[2], napi_float32_array, &dx) || dy.length != x.length || dx.length != x.length)
    FAIL("geluGrad(dy, x, dx): Float32Arrays of one length");
  RowsJob job = {{(const float*)dy.data, (const float*)x.data}, {(float*)dx.data}, 1, {0}, NULL};
  pa_parallel_for((int64_t)x.length, 20.0, gelu_grad_range, &job);
  return NULL;
}

/* ---- LayerNorm (the same sums as js-ops.ts: doubles, rounded once when stored) ---- */

static void layer_norm_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const int64_t n = jb->n;
  const double eps = jb->scalar[0];
  const float *x = jb->in[0], *g = jb->in[1], *b = jb->in[2];
  float *out = jb->out[0], *mean = jb->out[1], *rstd = jb->out[2];
  for (int64_t r = begin; r < end; r++) {
    const float* px = x + r * n;
    float* po = out + r * n;
    double sum = 0;
    for (int64_t j = 0; j < n; j++) sum += px[j];
    const double mu = sum / (double)n;
    double sq = 0;
    for (int64_t j = 0; j < n; j++) {
      const double d = px[j] - mu;
      sq += d * d;
    }
    const double rs = 1.0 / sqrt(sq / (double)n + eps);
    for (int64_t j = 0; j < n; j++) po[j] = (float)((px[j] - mu) * rs * g[j] + b[j]);
    mean[r] = (float)mu;
    rstd[r] = (float)rs;
  }
}

/* layerNorm(x, gamma, beta, out, mean, rstd, rows, n, eps) */
static napi_value layer_norm(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array a[6];
  int ok = argc >= 9;
  for (int i = 0; ok && i < 6; i++) ok = get_array(env, argv[i], napi_float32_array, &a[i]);
  int64_t rows = 0, n = 0;
  double eps = 0;
  ok = ok && get_i64(env, argv[6], &rows) && get_i64(env, argv[7], &n) && napi_get_value_double(env, argv[8], &eps) == napi_ok && rows >= 0 && n > 0;
  ok = ok && a[0].length == (size_t)(rows * n) && a[3].length == a[0].length && a[1].length == (size_t)n && a[2].length == (size_t)n &&
       a[4].length == (size_t)rows && a[5].length == (size_t)rows;
  if (!ok) FAIL("layerNorm(x, gamma, beta, out, mean, rstd, rows, n, eps): x and out rows·n, gamma and beta n, mean and rstd rows");
  RowsJob job = {{(const float*)a[0].data, (const float*)a[1].data, (const float*)a[2].data}, {(float*)a[3].data, (float*)a[4].data, (float*)a[5].data}, n, {eps}, NULL};
  pa_parallel_for(rows, 4.0 * (double)n, layer_norm_range, &job);
  return NULL;
}

/* dx of rows [begin, end) */
static void layer_norm_dx_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const int64_t n = jb->n;
  const float *dy = jb->in[0], *x = jb->in[1], *g = jb->in[2], *mean = jb->in[3], *rstd = jb->in[4];
  float* dx = jb->out[0];
  for (int64_t r = begin; r < end; r++) {
    const int64_t o = r * n;
    const double mu = mean[r], rs = rstd[r];
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < n; j++) {
      const double xhat = (x[o + j] - mu) * rs;
      const double gg = (double)dy[o + j] * g[j];
      s1 += gg;
      s2 += gg * xhat;
    }
    const double m1 = s1 / (double)n, m2 = s2 / (double)n;
    for (int64_t j = 0; j < n; j++) {
      const double xhat = (x[o + j] - mu) * rs;
      dx[o + j] = (float)(rs * ((double)dy[o + j] * g[j] - m1 - xhat * m2));
    }
  }
}

/* dgamma, dbeta of columns [begin, end), summed over every row in row order */
static void layer_norm_dparams_range(void* ctx, int64_t begin, int64_t end) {
  const RowsJob* jb = (const RowsJob*)ctx;
  const int64_t n = jb->n, rows = (int64_t)jb->scalar[0];
  const float *dy = jb->in[0], *x = jb->in[1], *mean = jb->in[3], *rstd = jb->in[4];
  float *dgamma = jb->out[1], *dbeta = jb->out[2];
  const int64_t w = end - begin;
  double *dg = jb->scratch + begin, *db = jb->scratch + n + begin;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t o = r * n + begin;
    const double mu = mean[r], rs = rstd[r];
    for (int64_t j = 0; j < w; j++) {
      const double xhat = (x[o + j] - mu) * rs;
      dg[j] += dy[o + j] * xhat;
      db[j] += dy[o + j];
    }
  }
  for (int64_t j = 0; j < w; j++) {
    dgamma[begin + j] = (float)dg[j];
    dbeta[begin + j] = (float)db[j];
  }
}

/* layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, n) */
static napi_value layer_norm_grad(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array a[8];
  int ok = argc >= 10;
  for (int i = 0; ok && i < 8; i++) ok = get_array(env, argv[i], napi_float32_array, &a[i]);
  int64_t rows = 0, n = 0;
  ok = ok && get_i64(env, argv[8], &rows) && get_i64(env, argv[9], &n) && rows >= 0 && n > 0;
  const size_t total = (size_t)(rows * n);
  ok = ok && a[0].length == total && a[1].length == total && a[5].length == total && a[2].length == (size_t)n && a[6].length == (size_t)n &&
       a[7].length == (size_t)n && a[3].length == (size_t)rows && a[4].length == (size_t)rows;
  if (!ok) FAIL("layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, n): dy, x, dx rows·n; gamma, dgamma, dbeta n; mean, rstd rows");
  RowsJob job = {{(const float*)a[0].data, (const float*)a[1].data, (const float*)a[2].data, (const float*)a[3].data, (const float*)a[4].data},
                 {(float*)a[5].data, (float*)a[6].data, (float*)a[7].data},
                 n,
                 {(double)rows},
                 (double*)calloc((size_t)(2 * n), sizeof(double))};
  if (!job.scratch) FAIL("layerNormGrad: out of memory");
  pa_parallel_for(rows, 6.0 * (double)n, layer_norm_dx_range, &job);
  pa_parallel_for(n, 3.0 * (double)rows, layer_norm_dparams_range, &job);
  free(job.scratch);
  return NULL;
}

/* ---- image operations of the data pipeline (image_ops.c) ---------------- */

static int get_image(napi_env env, napi_value src, napi_value out, napi_value wv, napi_value hv, Array* s, Array* o, int64_t* w, int64_t* h) {
  return get_array(env, src, napi_uint8_array, s) && get_array(env, out, napi_uint8_array, o) && get_i64(env, wv, w) && get_i64(env, hv, h) && *w > 0 &&
         *h > 0 && *w < (1 << 20) && *h < (1 << 20) && s->length == (size_t)(3 * *w * *h) && o->length == s->length;
}

/* warpAffine(src, out, w, h, inv: Float64Array(6), fill) */
static napi_value warp_affine(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array s, o, m;
  int64_t w, h;
  double fill;
  if (argc < 6 || !get_image(env, argv[0], argv[1], argv[2], argv[3], &s, &o, &w, &h) || !get_array(env, argv[4], napi_float64_array, &m) ||
      m.length != 6 || napi_get_value_double(env, argv[5], &fill) != napi_ok)
    FAIL("warpAffine(src, out, w, h, inv, fill): src and out Uint8Array of w·h·3, inv Float64Array(6)");
  pa_warp_affine((const uint8_t*)s.data, (uint8_t*)o.data, (int)w, (int)h, (const double*)m.data, fill);
  return NULL;
}

/* sharpness(src, out, w, h, factor) */
static napi_value sharpness(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array s, o;
  int64_t w, h;
  double factor;
  if (argc < 5 || !get_image(env, argv[0], argv[1], argv[2], argv[3], &s, &o, &w, &h) || napi_get_value_double(env, argv[4], &factor) != napi_ok)
    FAIL("sharpness(src, out, w, h, factor): src and out Uint8Array of w·h·3");
  pa_sharpness((const uint8_t*)s.data, (uint8_t*)o.data, (int)w, (int)h, factor);
  return NULL;
}

/* normalizeChw(src: Uint8Array(3n), out: Float32Array(3n), scale: Float64Array(3), shift: Float64Array(3)) */
static napi_value normalize_chw(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Array s, o, sc, sh;
  if (argc < 4 || !get_array(env, argv[0], napi_uint8_array, &s) || !get_array(env, argv[1], napi_float32_array, &o) ||
      !get_array(env, argv[2], napi_float64_array, &sc) || !get_array(env, argv[3], napi_float64_array, &sh) || s.length % 3 != 0 ||
      o.length != s.length || sc.length != 3 || sh.length != 3)
    FAIL("normalizeChw(src, out, scale, shift): src Uint8Array(3n), out Float32Array(3n), scale and shift Float64Array(3)");
  pa_normalize_chw((const uint8_t*)s.data, (float*)o.data, (int64_t)(s.length / 3), (const double*)sc.data, (const double*)sh.data);
  return NULL;
}

/*
 * Kernel outputs are fresh Float32Arrays (calloc'd by the runtime). With
 * glibc's defaults, large blocks come from mmap and go back on free, so every
 * output page-faults on first write: measured 1–6 ms for a 2 MB tensor whose
 * computation takes 0.06 ms. Keeping blocks under 32 MB in the heap (and not
 * trimming it) makes reuse cheap. POLYALIGN_KEEP_MALLOC=1 leaves glibc alone.
 */
static void tune_malloc(void) {
  const char* keep = getenv("POLYALIGN_KEEP_MALLOC");
  if (keep && keep[0] == '1') return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
}

static napi_value init(napi_env env, napi_value exports) {
  tune_malloc();
#ifdef POLYALIGN_HAVE_CBLAS
  openblas_set_num_threads(1); /* the pool owns the threads (see gemm_batched) */
#endif
  const char* mt = getenv("POLYALIGN_GEMM_MT_MIN");
  if (mt && atof(mt) >= 0) pa_mt_min_macs = atof(mt);
  const char* ew = getenv("POLYALIGN_ELEMWISE_MT_MIN");
  if (ew && atof(ew) >= 0) pa_pool_set_min_work(atof(ew));
  napi_property_descriptor props[] = {
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"getThreads", NULL, get_threads, NULL, NULL, NULL, napi_default, NULL},
      {"setParallelMinWork", NULL, set_parallel_min_work, NULL, NULL, NULL, napi_default, NULL},
      {"setGemmMinMacs", NULL, set_gemm_min_macs, NULL, NULL, NULL, napi_default, NULL},
      {"blas", NULL, blas_name, NULL, NULL, NULL, napi_default, NULL},
      {"gemmBatched", NULL, gemm_batched, NULL, NULL, NULL, napi_default, NULL},
      {"binary", NULL, binary, NULL, NULL, NULL, napi_default, NULL},
      {"unary", NULL, unary, NULL, NULL, NULL, napi_default, NULL},
      {"transpose", NULL, transpose, NULL, NULL, NULL, napi_default, NULL},
      {"reduceRows", NULL, reduce_rows, NULL, NULL, NULL, napi_default, NULL},
      {"reduceCols", NULL, reduce_cols, NULL, NULL, NULL, napi_default, NULL},
      {"softmax", NULL, softmax, NULL, NULL, NULL, napi_default, NULL},
      {"addBias", NULL, add_bias, NULL, NULL, NULL, napi_default, NULL},
      {"adamw", NULL, adamw, NULL, NULL, NULL, napi_default, NULL},
      {"softmaxGrad", NULL, softmax_grad, NULL, NULL, NULL, napi_default, NULL},
      {"gelu", NULL, gelu, NULL, NULL, NULL, napi_default, NULL},
      {"geluGrad", NULL, gelu_grad, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, layer_norm, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, layer_norm_grad, NULL, NULL, NULL, napi_default, NULL},
      {"warpAffine", NULL, warp_affine, NULL, NULL, NULL, napi_default, NULL},
      {"sharpness", NULL, sharpness, NULL, NULL, NULL, napi_default, NULL},
      {"normalizeChw", NULL, normalize_chw, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
