/*
 * The pool behind pa_parallel_for. Idle workers sleep on a condition variable
 * (never spin: OpenBLAS's spinning threads, sharing two cores with the data
 * workers, were the reason small GEMMs run on one thread). One job at a time:
 * a second JS thread arriving while the pool is busy runs its kernel serially.
 */
#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>

#define MAX_WORKERS 63

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;

static int threads = 1;
/* the job generation each worker was started at (set under mu before it runs) */
static uint64_t start_generation[MAX_WORKERS + 1];
static int started = 0;
static double min_work = 512.0 * 1024;

static struct {
  pa_range_fn fn;
  void* ctx;
  int64_t n;
  int parts;
  uint64_t generation;
  int pending;
} job;

static void run_part(pa_range_fn fn, void* ctx, int64_t n, int parts, int p) {
  const int64_t begin = (int64_t)((__int128)n * p / parts);
  const int64_t end = (int64_t)((__int128)n * (p + 1) / parts);
  if (end > begin) fn(ctx, begin, end);
}

static void* worker(void* arg) {
  const int id = (int)(intptr_t)arg;
  pthread_mutex_lock(&mu);
  uint64_t seen = start_generation[id];
  for (;;) {
    while (job.generation == seen) pthread_cond_wait(&wake, &mu);
    seen = job.generation;
    if (id >= job.parts) continue;
    pa_range_fn fn = job.fn;
    void* ctx = job.ctx;
    const int64_t n = job.n;
    const int parts = job.parts;
    pthread_mutex_unlock(&mu);
    run_part(fn, ctx, n, parts, id);
    pthread_mutex_lock(&mu);
    if (--job.pending == 0) pthread_cond_signal(&finished);
  }
  return NULL;
}

/* Starts workers 1..want-1 that are not running yet; returns how many threads can take part. */
static int ensure_workers(int want) {
  while (started < want - 1 && started < MAX_WORKERS) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    start_generation[started + 1] = job.generation;
    const int ok = pthread_create(&t, &attr, worker, (void*)(intptr_t)(started + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    started++;
  }
  return started + 1 < want ? started + 1 : want;
}

void pa_pool_set_threads(int n) { threads = n < 1 ? 1 : n > MAX_WORKERS + 1 ? MAX_WORKERS + 1 : n; }
int pa_pool_threads(void) { return threads; }
void pa_pool_set_min_work(double work) { min_work = work < 0 ? 0 : work; }
double pa_pool_min_work(void) { return min_work; }

void pa_parallel_for(int64_t n, double cost, pa_range_fn fn, void* ctx) {
  if (n <= 0) return;
  int parts = threads;
  if (parts > n) parts = (int)n;
  if (parts < 2 || (double)n * cost < min_work || pthread_mutex_trylock(&busy) != 0) {
    fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&mu);
  parts = ensure_workers(parts);
  if (parts < 2) {
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&busy);
    fn(ctx, 0, n);
    return;
  }
  job.fn = fn;
  job.ctx = ctx;
  job.n = n;
  job.parts = parts;
  job.pending = parts - 1;
  job.generation++;
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&mu);
  run_part(fn, ctx, n, parts, 0);
  pthread_mutex_lock(&mu);
  while (job.pending > 0) pthread_cond_wait(&finished, &mu);
  pthread_mutex_unlock(&mu);
  pthread_mutex_unlock(&busy);
}
