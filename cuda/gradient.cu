// The gradient: grad_i = factor * [(sum_j A_ij) x_i - (A X)_i + C_i], with A symmetrised first for the full PAPER
// gradient, as a tiled product that skips the all-zero tiles of A (mined sets are sparse). The product form
// cancels by |A_ij| (|x_i| + |x_j|) eps, harmless except for close pairs (gram_distance): those leave A and come
// back as C_i = sum_close A_ij (x_i - x_j) along their exact differences (close_terms, then zero_close).
#include "rll_common.cuh"

// Launch: grid m (the query rows: m = n for a batch; A is m x n, row stride n), block RLL_THREADS. Row i of C (m x d, double): thread t owns the columns t, t + RLL_THREADS, ...;
// the row's close flags are read RLL_THREADS at a time into shared memory, then walked in order j = 0, 1, ... by
// every thread alike (a uniform branch), so each column is summed in j order: deterministic, no atomics.
template <typename T>
__device__ void close_terms(const T* a, const T* x, const int* info, const unsigned char* close, long n, long d,
                            double* c) {
  __shared__ unsigned char flag[RLL_THREADS];
  const long i = blockIdx.x;
  for (long k = threadIdx.x; k < d; k += RLL_THREADS) c[i * d + k] = 0.0;
  for (long j0 = 0; j0 < n; j0 += RLL_THREADS) {
    __syncthreads();
    flag[threadIdx.x] = (j0 + threadIdx.x < n) ? close[i * n + j0 + threadIdx.x] : 0;
    __syncthreads();
    for (int t = 0; t < RLL_THREADS; ++t) {
      if (!flag[t]) continue;
      const long j = j0 + t;
      const double aij = (double)a[i * n + j];
      for (long k = threadIdx.x; k < d; k += RLL_THREADS) c[i * d + k] += aij * exact_diff(x, info, i, j, d, k);
    }
  }
}

// Launch: grid ceil(count / RLL_THREADS), block RLL_THREADS, count = m n. A_ij := 0 for the close pairs (their terms are in C).
template <typename T> __device__ void zero_close(T* a, const unsigned char* close, long count) {
  const long k = blockIdx.x * (long)blockDim.x + threadIdx.x;
  if (k < count && close[k]) a[k] = 0;
}

// Launch: grid (ceil(n / RLL_STRIP_TILE), ceil(n / RLL_STRIP_TILE)), block (RLL_STRIP_TILE, RLL_STRIP_ROWS). A := A + A^T: the block of tile (I, J), I <= J, owns
// both (I, J) and (J, I) and exchanges them through shared memory.
template <typename T> __device__ void symmetrize_add(T* a, long n) {
  if (blockIdx.y > blockIdx.x) return;
  __shared__ T upper[RLL_STRIP_TILE][RLL_STRIP_TILE + 1], lower[RLL_STRIP_TILE][RLL_STRIP_TILE + 1];
  const long r0 = blockIdx.y * RLL_STRIP_TILE, c0 = blockIdx.x * RLL_STRIP_TILE;
  for (int r = threadIdx.y; r < RLL_STRIP_TILE; r += RLL_STRIP_ROWS) {
    const long i = r0 + r, j = c0 + threadIdx.x;
    upper[r][threadIdx.x] = (i < n && j < n) ? a[i * n + j] : (T)0;
    const long i2 = c0 + r, j2 = r0 + threadIdx.x;
    lower[r][threadIdx.x] = (i2 < n && j2 < n) ? a[i2 * n + j2] : (T)0;
  }
  __syncthreads();
  const bool diagonal = blockIdx.x == blockIdx.y;
  for (int r = threadIdx.y; r < RLL_STRIP_TILE; r += RLL_STRIP_ROWS) {
    const long i = r0 + r, j = c0 + threadIdx.x;
    // upper[r][c] = A(r0 + r, c0 + c); lower[c][r] = A(c0 + c, r0 + r).
    if (i < n && j < n && (!diagonal || j > i)) a[i * n + j] = upper[r][threadIdx.x] + lower[threadIdx.x][r];
    const long i2 = c0 + r, j2 = r0 + threadIdx.x;
    if (i2 < n && j2 < n && (!diagonal || i2 > j2)) a[i2 * n + j2] = lower[r][threadIdx.x] + upper[threadIdx.x][r];
  }
}

// Launch: grid m, block RLL_THREADS. rsum[i] = sum_j A_ij over the n columns of row i (a fixed tree).
template <typename T> __device__ void row_sums(const T* a, long n, T* rsum) {
  __shared__ T buf[RLL_THREADS];
  T s = 0;
  for (long j = threadIdx.x; j < n; j += RLL_THREADS) s += a[blockIdx.x * n + j];
  s = block_sum(s, buf);
  if (threadIdx.x == 0) rsum[blockIdx.x] = s;
}

// Launch: grid (ceil(d / TN), ceil(m / TM)), block (RLL_GRAD_THREADS, RLL_GRAD_THREADS). A is m x n (m = n for a
// batch), X n x d, the gradient's m rows. One TM x TN tile of G = A X
// per block (4 x 4 per thread), k in chunks of TK through shared memory; a chunk whose TM x TK block of A is all zero (flags, the same
// tiles) is skipped, which leaves every sum unchanged. The epilogue writes factor * (rsum_i x_i - G_i + C_i),
// saturated, with factor = loss_weight 2^e when scale_exp (V2019's raw differences), else loss_weight; every value
// NaN when status[0] >= 0 (a non-finite input: the caller's optimiser skips the step, as for a NaN loss).
#define TM RLL_FLAG_TILE_ROWS
#define TK RLL_FLAG_TILE_COLS
#define TN RLL_GRAD_COLS
#define TB RLL_GRAD_THREADS
static_assert(TM == 4 * TB && TN == 4 * TB && TK == TB, "the thread mapping below assumes 4 x 4 values per thread");
template <typename T>
__device__ void gradient(const T* a, const T* xs, const T* rsum, const unsigned char* flags, const double* c, long n,
                         long m, long d, const int* info, T loss_weight, int scale_exp, const long* status, T* grad) {
  __shared__ T as[TK][TM + 1];
  __shared__ T bs[TK][TN + 1];
  const long row0 = blockIdx.y * TM, col0 = blockIdx.x * TN;
  const long k_tiles = (n + TK - 1) / TK;
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * TB + tx;
  T acc[4][4];
  for (int p = 0; p < 4; ++p)
    for (int q = 0; q < 4; ++q) acc[p][q] = 0;
  for (long kt = 0; kt < k_tiles; ++kt) {
    if (!flags[blockIdx.y * k_tiles + kt]) continue;  // uniform across the block
    const long k0 = kt * TK;
    for (int l = tid; l < TK * TM; l += TB * TB) {
      const int r = l / TK, k = l % TK;       // A: TM rows x TK k, k fastest
      as[k][r] = (row0 + r < m && k0 + k < n) ? a[(row0 + r) * n + k0 + k] : (T)0;
      const int kk = l / TN, c = l % TN;      // X: TK k x TN columns, columns fastest
      bs[kk][c] = (k0 + kk < n && col0 + c < d) ? xs[(k0 + kk) * d + col0 + c] : (T)0;
    }
    __syncthreads();
    for (int k = 0; k < TK; ++k) {
      T av[4], bv[4];
      for (int p = 0; p < 4; ++p) av[p] = as[k][ty + TB * p];
      for (int q = 0; q < 4; ++q) bv[q] = bs[k][tx + TB * q];
      for (int p = 0; p < 4; ++p)
        for (int q = 0; q < 4; ++q) acc[p][q] = Num<T>::fma(av[p], bv[q], acc[p][q]);
    }
    __syncthreads();
  }
  const T factor = rll_ldexp(loss_weight, scale_exp ? batch_exponent(info) : 0);
  const bool poisoned = status[0] >= 0;
  for (int p = 0; p < 4; ++p) {
    const long i = row0 + ty + TB * p;
    if (i >= m) continue;
    for (int q = 0; q < 4; ++q) {
      const long col = col0 + tx + TB * q;
      if (col < d)
        grad[i * d + col] = poisoned ? Num<T>::nan()
                                     : saturate(factor * (rsum[i] * xs[i * d + col] - acc[p][q] + (T)c[i * d + col]));
    }
  }
}

// The references' side of queries against references. Launch: grid n - m (one block per reference row
// j = m + blockIdx.x), block RLL_THREADS; A is m x n (row stride n), before zero_close. Row j's gradient is
// loss_weight [(sum_i A_ij) xs_j - sum_i A_ij xs_i] over the pairs that are not close, plus sum_i A_ij (x_j - x_i)
// along their exact differences over the close ones (PAPER: unit directions, no power of two), i in index order;
// NaN everywhere when status[0] >= 0.
template <typename T>
__device__ void ref_gradient(const T* a, const T* xs, const T* x, const int* info, const unsigned char* close, long n,
                             long m, long d, T loss_weight, const long* status, T* grad) {
  __shared__ T buf[RLL_THREADS];
  const long j = m + blockIdx.x;
  T s = 0;
  for (long i = threadIdx.x; i < m; i += RLL_THREADS)
    if (!close[i * n + j]) s += a[i * n + j];
  const T csum = block_sum(s, buf);
  const bool poisoned = status[0] >= 0;
  for (long k = threadIdx.x; k < d; k += RLL_THREADS) {
    T acc = 0;
    double exact = 0.0;
    for (long i = 0; i < m; ++i) {
      const T aij = a[i * n + j];
      if (aij == 0) continue;
      if (close[i * n + j]) {
        exact += (double)aij * exact_diff(x, info, j, i, d, k);
      } else {
        acc = Num<T>::fma(aij, xs[i * d + k], acc);
      }
    }
    grad[blockIdx.x * d + k] =
        poisoned ? Num<T>::nan() : saturate(loss_weight * (csum * xs[j * d + k] - acc + (T)exact));
  }
}

#define RLL_INSTANTIATE(T, S)                                                                                   \
  extern "C" __global__ void rll_symmetrize_add_##S(T* a, long n) { symmetrize_add<T>(a, n); }                 \
  extern "C" __global__ void rll_row_sums_##S(const T* a, long n, T* rsum) { row_sums<T>(a, n, rsum); }        \
  extern "C" __global__ void rll_ref_gradient_##S(const T* a, const T* xs, const T* x, const int* info,        \
                                                  const unsigned char* close, long n, long m, long d,          \
                                                  T loss_weight, const long* status, T* grad) {                \
    ref_gradient<T>(a, xs, x, info, close, n, m, d, loss_weight, status, grad);                                 \
  }                                                                                                             \
  extern "C" __global__ void rll_gradient_##S(const T* a, const T* xs, const T* rsum, const unsigned char* flags, \
                                              const double* c, long n, long m, long d, const int* info,         \
                                              T loss_weight, int scale_exp, const long* status, T* grad) {      \
    gradient<T>(a, xs, rsum, flags, c, n, m, d, info, loss_weight, scale_exp, status, grad);                    \
  }                                                                                                             \
  extern "C" __global__ void rll_close_terms_##S(const T* a, const T* x, const int* info,                       \
                                                 const unsigned char* close, long n, long d, double* c) {       \
    close_terms<T>(a, x, info, close, n, d, c);                                                                 \
  }                                                                                                             \
  extern "C" __global__ void rll_zero_close_##S(T* a, const unsigned char* close, long count) {                 \
    zero_close<T>(a, close, count);                                                                             \
  }

RLL_INSTANTIATE(float, f32)
RLL_INSTANTIATE(double, f64)
