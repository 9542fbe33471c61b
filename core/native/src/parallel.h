/*
 * A small pool of blocking worker threads for the elementwise, row-wise and
 * reduction kernels. Work is split into contiguous ranges whose bounds depend
 * only on the length and the thread count, and every output element is
 * computed by one thread in the serial order, so results are bit-identical
 * for any number of threads.
 */
#ifndef POLYALIGN_PARALLEL_H
#define POLYALIGN_PARALLEL_H

#include <stdint.h>

/* fn(ctx, begin, end) computes items [begin, end). */
typedef void (*pa_range_fn)(void* ctx, int64_t begin, int64_t end);

/* Threads the pool may use (the caller's thread included); 1 = everything serial. */
void pa_pool_set_threads(int n);
int pa_pool_threads(void);

/*
 * Runs fn over [0, n): on the calling thread alone when n · cost is below the
 * threshold (POLYALIGN_ELEMWISE_MT_MIN, in cost units; a float add is 1) or the
 * pool is busy (another JS thread is in a kernel); else split over the pool.
 */
void pa_parallel_for(int64_t n, double cost, pa_range_fn fn, void* ctx);

/* the threshold (tests set 0 to force the parallel path on small inputs) */
void pa_pool_set_min_work(double work);
double pa_pool_min_work(void);

#endif
