// Distances: centring and power-of-two scaling of the features (as the CPU path, bit for bit), row norms, and
// the N x N distance matrix from a tiled Gram product.
#include "rll_common.cuh"

// Column reductions in two stages, so that many blocks share a tall matrix and the order stays fixed.
// Stage 1, launch: grid (ceil(d / RLL_STRIP_TILE), RLL_COL_CHUNKS), block (RLL_STRIP_TILE, RLL_STRIP_ROWS). Each
// block reduces its share of the rows of RLL_STRIP_TILE columns into partial[chunk * d + col]. `what`: 0 = max |x|, 1 = sum of x 2^-e1, 2 = max |x 2^-e1 - mean|.
template <typename T>
__device__ void column_partial(const T* x, long n, long d, const int* info, const double* mean, int what,
                               double* partial) {
  __shared__ double buf[RLL_STRIP_ROWS][RLL_STRIP_TILE + 1];
  const long col = blockIdx.x * RLL_STRIP_TILE + threadIdx.x;
  const long rows_per_chunk = (n + RLL_COL_CHUNKS - 1) / RLL_COL_CHUNKS;
  const long r0 = blockIdx.y * rows_per_chunk;
  const long r1 = r0 + rows_per_chunk < n ? r0 + rows_per_chunk : n;
  double acc = 0.0;
  if (col < d) {
    for (long r = r0 + threadIdx.y; r < r1; r += RLL_STRIP_ROWS) {
      double v = (double)x[r * d + col];
      if (what == 0) {
        acc = fmax(acc, fabs(v));
      } else if (what == 1) {
        acc += mul_pow2(v, -info[0]);
      } else {
        acc = fmax(acc, fabs(mul_pow2(v, -info[0]) - mean[col]));
      }
    }
  }
  buf[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < d) {
    double a = buf[0][threadIdx.x];
    for (int k = 1; k < RLL_STRIP_ROWS; ++k) a = (what == 1) ? a + buf[k][threadIdx.x] : fmax(a, buf[k][threadIdx.x]);
    partial[(long)blockIdx.y * d + col] = a;
  }
}

// Stage 2, launch: grid ceil(d / RLL_THREADS), block RLL_THREADS: one thread per column over the chunks in order.
// what 0/2: column maxima into colmax; what 1: means (sum / n) into mean.
__device__ void column_finish(const double* partial, long n, long d, int what, double* out) {
  const long col = blockIdx.x * (long)blockDim.x + threadIdx.x;
  if (col >= d) return;
  double a = 0.0;
  for (int c = 0; c < RLL_COL_CHUNKS; ++c) {
    const double v = partial[(long)c * d + col];
    a = (what == 1) ? a + v : fmax(a, v);
  }
  out[col] = (what == 1) ? a * (1.0 / (double)n) : a;
}

// Launch: grid 1, block RLL_THREADS. info[slot] = the power-of-two exponent of max(colmax).
__device__ void exponent_of_max(const double* colmax, long d, int* info, int slot) {
  __shared__ double buf[RLL_THREADS];
  double m = 0.0;
  for (long j = threadIdx.x; j < d; j += RLL_THREADS) m = fmax(m, colmax[j]);
  m = block_max(m, buf);
  if (threadIdx.x == 0) info[slot] = pow2_exponent(m);
}

// Launch: grid ceil(n d / RLL_THREADS), block RLL_THREADS. xs = ((x 2^-e1) - mean) 2^-e2, rounded to T once.
template <typename T>
__device__ void centre_scale(const T* x, long n, long d, const int* info, const double* mean, T* xs) {
  const long k = blockIdx.x * (long)blockDim.x + threadIdx.x;
  if (k >= n * d) return;
  xs[k] = (T)mul_pow2(mul_pow2((double)x[k], -info[0]) - mean[k % d], -info[1]);
}

// Launch: grid ceil(n / RLL_THREADS), block RLL_THREADS. norms[i] = sum_k xs[i][k]^2 in index order.
template <typename T> __device__ void row_norms(const T* xs, long n, long d, T* norms) {
  const long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
  if (i >= n) return;
  T a = 0;
  for (long k = 0; k < d; ++k) a += xs[i * d + k] * xs[i * d + k];
  norms[i] = a;
}

// Launch: grid (ceil(n / RLL_GRAM_TILE), ceil(m / RLL_GRAM_TILE)), block (RLL_GRAM_THREADS, RLL_GRAM_THREADS).
// m = n: the batch against itself, as below. m < n: the m query rows (the first m) against all n rows, an m x n
// matrix of row stride n, every tile computed, no mirror, close[i n + j] only (queries against references).
// Each block computes one RLL_GRAM_TILE-square tile of the Gram matrix (only tiles on or above the diagonal), each
// thread an RLL_GS-square sub-tile (rows ty + RLL_GB a, columns tx + RLL_GB b), k in chunks of RLL_GRAM_K through
// shared memory; the epilogue turns g_ij into d_ij = sqrt(n_i + n_j - 2 g_ij)
// and writes d_ij (j >= i; the lower triangle is filled by mirror_lower, whose writes go along rows). Where the
// Gram form lost more than six bits the pair is close: its distance is summed from the input in double
// (exact_diff) and close[i n + j] = close[j n + i] = 1 (close starts zeroed), for the gradient's close_terms.
#define RLL_GT RLL_GRAM_TILE
#define RLL_GK RLL_GRAM_K
#define RLL_GB RLL_GRAM_THREADS
#define RLL_GS (RLL_GRAM_TILE / RLL_GRAM_THREADS)  // the side of one thread's sub-tile
template <typename T>
__device__ void gram_distance(const T* xs, const T* norms, const T* x, const int* info, long n, long m, long d,
                              T* dist, unsigned char* close) {
  const bool square = m == n;  // else the m query rows against all n rows: every tile, no mirror
  if (square && blockIdx.y > blockIdx.x) return;
  __shared__ T as[RLL_GK][RLL_GT];
  __shared__ T bs[RLL_GK][RLL_GT];
  const long row0 = (long)blockIdx.y * RLL_GT, col0 = (long)blockIdx.x * RLL_GT;
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * RLL_GB + tx;
  T acc[RLL_GS][RLL_GS];
  for (int a = 0; a < RLL_GS; ++a)
    for (int b = 0; b < RLL_GS; ++b) acc[a][b] = 0;
  for (long k0 = 0; k0 < d; k0 += RLL_GK) {
    // RLL_GT rows x RLL_GK k per matrix, k fastest (RLL_GK consecutive values of a row).
    for (int l = tid; l < RLL_GT * RLL_GK; l += RLL_GB * RLL_GB) {
      const int r = l / RLL_GK, k = l % RLL_GK;
      as[k][r] = (row0 + r < m && k0 + k < d) ? xs[(row0 + r) * d + k0 + k] : (T)0;
      bs[k][r] = (col0 + r < n && k0 + k < d) ? xs[(col0 + r) * d + k0 + k] : (T)0;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < RLL_GK; ++k) {
      T av[RLL_GS], bv[RLL_GS];
#pragma unroll
      for (int a = 0; a < RLL_GS; ++a) av[a] = as[k][ty + RLL_GB * a];
#pragma unroll
      for (int b = 0; b < RLL_GS; ++b) bv[b] = bs[k][tx + RLL_GB * b];
#pragma unroll
      for (int a = 0; a < RLL_GS; ++a)
#pragma unroll
        for (int b = 0; b < RLL_GS; ++b) acc[a][b] = Num<T>::fma(av[a], bv[b], acc[a][b]);
    }
    __syncthreads();
  }
  for (int a = 0; a < RLL_GS; ++a) {
    const long i = row0 + ty + RLL_GB * a;
    if (i >= m) continue;
    for (int b = 0; b < RLL_GS; ++b) {
      const long j = col0 + tx + RLL_GB * b;
      if (j >= n || (square && j < i)) continue;
      if (j == i) {
        dist[i * n + i] = 0;
        continue;
      }
      const T scale = norms[i] + norms[j];
      const T sq = scale - (T)2 * acc[a][b];
      if (sq < scale * (T)RLL_CLOSE_PAIR_RATIO) {
        double s = 0;
        for (long k = 0; k < d; ++k) {
          const double t = exact_diff(x, info, i, j, d, k);
          s += t * t;
        }
        dist[i * n + j] = (T)::sqrt(s);
        close[i * n + j] = 1;
        if (square) close[j * n + i] = 1;
      } else {
        dist[i * n + j] = Num<T>::sqrt(rll_max(sq, (T)0));
      }
    }
  }
}

// Launch: grid (ceil(n / RLL_STRIP_TILE), ceil(n / RLL_STRIP_TILE)), block (RLL_STRIP_TILE, RLL_STRIP_ROWS). The lower
// triangle from the upper one (d_ji = d_ij), an RLL_STRIP_TILE-square tile at a time through shared memory, so that reads and writes both go along rows.
template <typename T> __device__ void mirror_lower(T* dist, long n) {
  if (blockIdx.y < blockIdx.x) return;  // tile (I, J) with I >= J is filled from tile (J, I)
  __shared__ T tile[RLL_STRIP_TILE][RLL_STRIP_TILE + 1];
  const long src_r0 = blockIdx.x * RLL_STRIP_TILE, src_c0 = blockIdx.y * RLL_STRIP_TILE;
  for (int r = threadIdx.y; r < RLL_STRIP_TILE; r += RLL_STRIP_ROWS) {
    const long i = src_r0 + r, j = src_c0 + threadIdx.x;
    tile[r][threadIdx.x] = (i < n && j < n && j > i) ? dist[i * n + j] : (T)0;
  }
  __syncthreads();
  for (int r = threadIdx.y; r < RLL_STRIP_TILE; r += RLL_STRIP_ROWS) {
    const long i = src_c0 + r, j = src_r0 + threadIdx.x;  // (i, j) in the lower triangle takes d_ji
    if (i < n && j < n && j < i) dist[i * n + j] = tile[threadIdx.x][r];
  }
}

// Launch: grid min(ceil(count / RLL_THREADS), RLL_CHECK_BLOCKS), block RLL_THREADS, a grid-stride loop.
// partial[b] = the smallest index k of block b's share with a non-finite v[k], or -1 (the entries of blocks not
// launched are -1 already: the host fills them so); check_status reduces them (argument checking, as the CPU path).
template <typename T> __device__ void first_nonfinite(const T* v, long count, long* partial) {
  __shared__ long buf[RLL_THREADS];
  long best = -1;
  for (long k = blockIdx.x * (long)RLL_THREADS + threadIdx.x; k < count; k += (long)gridDim.x * RLL_THREADS) {
    if (!isfinite((double)v[k])) { best = k; break; }
  }
  buf[threadIdx.x] = best;
  __syncthreads();
  for (int s = RLL_THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const long a = buf[threadIdx.x], b = buf[threadIdx.x + s];
      buf[threadIdx.x] = (a < 0) ? b : ((b < 0) ? a : (a < b ? a : b));
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = buf[0];
}

// Launch: grid 1, block 1. status[0] = the first non-finite input from first_nonfinite's partials: the smallest
// index k of x (partial[0, RLL_CHECK_BLOCKS)), else nd + i for labels[i] (partial[RLL_CHECK_BLOCKS, 2
// RLL_CHECK_BLOCKS)), else -1; also into status_out, the caller's, when it is not null.
__device__ void check_status(const long* partial, long nd, long* status, long* status_out) {
  long x = -1, y = -1;
  for (int b = 0; b < RLL_CHECK_BLOCKS; ++b) {
    const long px = partial[b], py = partial[RLL_CHECK_BLOCKS + b];
    if (px >= 0 && (x < 0 || px < x)) x = px;
    if (py >= 0 && (y < 0 || py < y)) y = py;
  }
  const long s = x >= 0 ? x : (y >= 0 ? nd + y : -1);
  status[0] = s;
  if (status_out) status_out[0] = s;
}

#define RLL_INSTANTIATE(T, S)                                                                                  \
  extern "C" __global__ void rll_column_partial_##S(const T* x, long n, long d, const int* info,              \
                                                    const double* mean, int what, double* partial) {          \
    column_partial<T>(x, n, d, info, mean, what, partial);                                                     \
  }                                                                                                            \
  extern "C" __global__ void rll_first_nonfinite_##S(const T* v, long count, long* partial) {                 \
    first_nonfinite<T>(v, count, partial);                                                                     \
  }                                                                                                            \
  extern "C" __global__ void rll_centre_scale_##S(const T* x, long n, long d, const int* info,                \
                                                  const double* mean, T* xs) {                                 \
    centre_scale<T>(x, n, d, info, mean, xs);                                                                  \
  }                                                                                                            \
  extern "C" __global__ void rll_row_norms_##S(const T* xs, long n, long d, T* norms) {                       \
    row_norms<T>(xs, n, d, norms);                                                                             \
  }                                                                                                            \
  extern "C" __global__ void rll_mirror_lower_##S(T* dist, long n) { mirror_lower<T>(dist, n); }              \
  extern "C" __global__ void rll_gram_distance_##S(const T* xs, const T* norms, const T* x, const int* info,   \
                                                   long n, long m, long d, T* dist, unsigned char* close) {    \
    gram_distance<T>(xs, norms, x, info, n, m, d, dist, close);                                                \
  }

RLL_INSTANTIATE(float, f32)
RLL_INSTANTIATE(double, f64)

extern "C" __global__ void rll_column_finish(const double* partial, long n, long d, int what, double* out) {
  column_finish(partial, n, d, what, out);
}

extern "C" __global__ void rll_check_status(const long* partial, long nd, long* status, long* status_out) {
  check_status(partial, nd, status, status_out);
}

extern "C" __global__ void rll_exponent_of_max(const double* colmax, long d, int* info, int slot) {
  exponent_of_max(colmax, d, info, slot);
}
