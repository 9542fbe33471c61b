/* Image operations of the data pipeline (see image_ops.c). */
#ifndef POLYALIGN_IMAGE_OPS_H
#define POLYALIGN_IMAGE_OPS_H
#include <stdint.h>

/* out(x, y) = bilinear sample of src at (a·x + b·y + c, d·x + e·y + f); outside: fill */
void pa_warp_affine(const uint8_t* src, uint8_t* out, int w, int h, const double inv[6], double fill);
/* blend with the 3×3 smoothing kernel (centre 5, others 1, /13); the border copied */
void pa_sharpness(const uint8_t* src, uint8_t* out, int w, int h, double factor);
/* HWC uint8 → CHW float32: v·scale[c] − shift[c] */
void pa_normalize_chw(const uint8_t* src, float* out, int64_t n, const double scale[3], const double shift[3]);
#endif
