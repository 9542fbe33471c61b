/*
 * Image operations of the data pipeline's RandAugment and normalisation, on
 * 8-bit interleaved RGB: the same arithmetic, in the same order, as their JS
 * versions in core/data/image (doubles, JS's Math.round, no contraction into
 * FMA), so a run's pixels do not depend on whether the addon is loaded. The
 * specs compare both bit for bit.
 */
#include "image_ops.h"

#include <math.h>

/* JS Math.round: the nearest integer, halves towards +infinity. */
static inline double js_round(double v) {
  double r = floor(v);
  return v - r >= 0.5 ? r + 1.0 : r;
}

static inline uint8_t round_clamp(double v) {
  double r = js_round(v);
  return r <= 0.0 ? 0 : r >= 255.0 ? 255 : (uint8_t)r;
}

static inline double sample_or_fill(const uint8_t* src, int w, int h, int64_t x, int64_t y, int ch, double fill) {
  return x < 0 || y < 0 || x >= w || y >= h ? fill : (double)src[(y * w + x) * 3 + ch];
}

void pa_warp_affine(const uint8_t* src, uint8_t* out, int w, int h, const double inv[6], double fill) {
  const double a = inv[0], b = inv[1], c = inv[2], d = inv[3], e = inv[4], f = inv[5];
  const int64_t row = 3 * (int64_t)w;
  for (int y = 0; y < h; y++) {
    const double by = b * y, ey = e * y;
    for (int x = 0; x < w; x++) {
      const double sx = a * x + by + c;
      const double sy = d * x + ey + f;
      const double fx0 = floor(sx), fy0 = floor(sy);
      const double fx = sx - fx0, fy = sy - fy0, gx = 1 - fx, gy = 1 - fy;
      uint8_t* o = out + ((int64_t)y * w + x) * 3;
      if (fx0 >= 0 && fy0 >= 0 && fx0 < w - 1 && fy0 < h - 1) {
        const uint8_t* p = src + (int64_t)fy0 * row + (int64_t)fx0 * 3;
        const uint8_t* q = p + row;
        for (int ch = 0; ch < 3; ch++) o[ch] = round_clamp(gy * (gx * p[ch] + fx * p[ch + 3]) + fy * (gx * q[ch] + fx * q[ch + 3]));
      } else if (fx0 >= -1 && fy0 >= -1 && fx0 < w && fy0 < h) {
        const int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
        for (int ch = 0; ch < 3; ch++) {
          const double p00 = sample_or_fill(src, w, h, x0, y0, ch, fill), p10 = sample_or_fill(src, w, h, x0 + 1, y0, ch, fill);
          const double p01 = sample_or_fill(src, w, h, x0, y0 + 1, ch, fill), p11 = sample_or_fill(src, w, h, x0 + 1, y0 + 1, ch, fill);
          o[ch] = round_clamp(gy * (gx * p00 + fx * p10) + fy * (gx * p01 + fx * p11));
        }
      } else {
        o[0] = o[1] = o[2] = round_clamp(gy * (gx * fill + fx * fill) + fy * (gx * fill + fx * fill));
      }
    }
  }
}

void pa_sharpness(const uint8_t* src, uint8_t* out, int w, int h, double factor) {
  const int64_t row = 3 * (int64_t)w;
  for (int64_t i = 0; i < row * h; i++) out[i] = src[i];
  if (factor == 1.0 || w < 3 || h < 3) return;
  for (int y = 1; y < h - 1; y++) {
    for (int64_t i = y * row + 3, end = (y + 1) * row - 3; i < end; i++) {
      const int s = 5 * src[i] + src[i - row - 3] + src[i - row] + src[i - row + 3] + src[i - 3] + src[i + 3] + src[i + row - 3] + src[i + row] +
                    src[i + row + 3];
      const double degenerate = js_round((double)s / 13.0);
      const double v = degenerate + factor * ((double)src[i] - degenerate);
      out[i] = v <= 0.0 ? 0 : v >= 255.0 ? 255 : (uint8_t)trunc(v);
    }
  }
}

void pa_normalize_chw(const uint8_t* src, float* out, int64_t n, const double scale[3], const double shift[3]) {
  for (int64_t i = 0, j = 0; i < n; i++, j += 3) {
    out[i] = (float)(src[j] * scale[0] - shift[0]);
    out[n + i] = (float)(src[j + 1] * scale[1] - shift[1]);
    out[2 * n + i] = (float)(src[j + 2] * scale[2] - shift[2]);
  }
}
