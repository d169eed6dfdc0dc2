// Rows: from each query's row of distances to its row of gradient coefficients A_ij (written over the distance
// row, which no other block reads), its loss terms and statistics; the small reductions that tie the rows together.
#include "rll_common.cuh"

// Marks the RLL_FLAG_TILE_ROWS x RLL_FLAG_TILE_COLS tile of A holding (i, j) as nonzero, so the gradient product can skip zero tiles.
// Several threads may store the same 1 into a byte: the result does not depend on their order.
__device__ inline void mark(unsigned char* flags, long n, long i, long j) {
  flags[(i / RLL_FLAG_TILE_ROWS) * ((n + RLL_FLAG_TILE_COLS - 1) / RLL_FLAG_TILE_COLS) + j / RLL_FLAG_TILE_COLS] = 1;
}

// PAPER, mirroring src/paper.rs (Paper::exponent, hinge, coef; PaperSums). Launch: grid m, block RLL_THREADS; one
// block per query i. Query i's ranked list is columns col0..n of its row (row stride n), its own copy column i
// (own null) or col0 + own[i] (own[i] < 0: none); the columns before col0 get 0 (m = n, col0 = 0: the batch). Boundaries and temperatures in input units, scaled here by the batch's exponent (info) as
// src/scaled.rs does on the host, so that no value of the batch is read back before the launch.
// A_ij = s_i dL_i/dd_ij / d_ij (0 outside P*_i and N*_i), s_i = 1/N or weights[i] when weights is not null;
// row_loss[i] = lambda_p L_P(i) + lambda L_N(i), times weights[i] when given;
// stats[i] = (L_P, L_N, |P*|, |N*|) when stats is not null, L_P and L_N times 2^stat_exp (input units).
template <typename T>
__device__ void paper_rows(T* dist_a, const T* labels, long n, long col0, const long* own, const int* info, T beta_p,
                           T beta_n, T t_p, T t_n, T t_cap, T lambda, T lambda_p, T inv_n, T cap, T eps_n, int detach,
                           int symmetric, unsigned char* flags, T* row_loss, T* stats, const T* weights) {
  __shared__ T buf[RLL_THREADS];
  const int stat_exp = batch_exponent(info);
  beta_p = scaled_length(beta_p, stat_exp);
  beta_n = scaled_length(beta_n, stat_exp);
  t_p = scaled_temperature(t_p, stat_exp, t_cap);
  t_n = scaled_temperature(t_n, stat_exp, t_cap);
  const long i = blockIdx.x;
  T* row = dist_a + i * n;
  const T yi = labels[i];
  const long self = own ? (own[i] >= 0 ? col0 + own[i] : -1) : i;
  // The maxima start below every exponent (not at 0), so that a negative temperature gets its largest weight 1.
  T max_p = -Num<T>::max_value(), max_n = -Num<T>::max_value(), cnt_p = 0, cnt_n = 0;
  for (long j = col0 + threadIdx.x; j < n; j += RLL_THREADS) {
    const T d = row[j];
    if (labels[j] == yi) {
      if (d > beta_p && j != self) { max_p = rll_max(max_p, t_p * (d - beta_p)); cnt_p += 1; }
    } else if (d < beta_n) {
      max_n = rll_max(max_n, t_n * (beta_n - d)); cnt_n += 1;
    }
  }
  max_p = block_max(max_p, buf);
  max_n = block_max(max_n, buf);
  cnt_p = block_sum(cnt_p, buf);
  cnt_n = block_sum(cnt_n, buf);
  T wp = 0, hp = 0, wn = 0, hn = 0;
  for (long j = col0 + threadIdx.x; j < n; j += RLL_THREADS) {
    const T d = row[j];
    if (labels[j] == yi) {
      if (d > beta_p && j != self) {
        const T h = d - beta_p, w = Num<T>::exp(t_p * h - max_p);
        wp += w; hp += w * h;
      }
    } else if (d < beta_n) {
      const T h = beta_n - d, w = Num<T>::exp(t_n * h - max_n);
      wn += w; hn += w * h;
    }
  }
  wp = block_sum(wp, buf); hp = block_sum(hp, buf);
  wn = block_sum(wn, buf); hn = block_sum(hn, buf);
  if (eps_n > 0) {  // N eps in each non-empty set's W, in its weights' shifted units (PaperSums::add_eps)
    if (cnt_p > 0) wp += Num<T>::exp(Num<T>::log(eps_n) - max_p);
    if (cnt_n > 0) wn += Num<T>::exp(Num<T>::log(eps_n) - max_n);
  }
  const T l_p = cnt_p > 0 ? hp / wp : (T)0;
  const T l_n = cnt_n > 0 ? hn / wn : (T)0;
  // The row's weight in E: 1/N for the mean, the caller's u_i for E = sum_i u_i l_i (Paper::coef's `scale`).
  const T scale = weights ? weights[i] : inv_n;
  for (long j = threadIdx.x; j < col0; j += RLL_THREADS) row[j] = 0;
  for (long j = col0 + threadIdx.x; j < n; j += RLL_THREADS) {
    const T d = row[j];
    T c = 0;
    if (labels[j] == yi) {
      if (d > beta_p && j != self && d > 0) {
        const T h = d - beta_p, w = Num<T>::exp(t_p * h - max_p);
        const T bracket = detach ? (T)1 : (T)1 + t_p * (h - l_p);
        c = lambda_p * (w / wp) * bracket;
      }
    } else if (d < beta_n && d > 0) {
      const T h = beta_n - d, w = Num<T>::exp(t_n * h - max_n);
      const T bracket = detach ? (T)1 : (T)1 + t_n * (h - l_n);
      c = -lambda * (w / wn) * bracket;
    }
    if (c != 0) {
      c = rll_min(rll_max(scale * c / d, -cap), cap);
      mark(flags, n, i, j);
      if (symmetric) mark(flags, n, j, i);
    }
    row[j] = c;
  }
  if (threadIdx.x == 0) {
    const T loss = lambda_p * l_p + lambda * l_n;
    row_loss[i] = weights ? weights[i] * loss : loss;
    if (stats) {
      stats[4 * i] = rll_ldexp(l_p, stat_exp); stats[4 * i + 1] = rll_ldexp(l_n, stat_exp);
      stats[4 * i + 2] = cnt_p; stats[4 * i + 3] = cnt_n;
    }
  }
}

// OFFICIAL, the weight exponent of pair (i, j) if it is active (k = T ln b, in scaled units).
template <typename T>
__device__ inline bool official_exponent(bool same, T d, T beta_p, T beta_n, T k_p, T k_n, T* e) {
  if (same) { if (d > beta_p) { *e = k_p * (d - beta_p); return true; } }
  else if (d < beta_n) { *e = k_n * (beta_n - d); return true; }
  return false;
}

// OFFICIAL pass 1. Launch: grid n, block RLL_THREADS. sums[4 i ..] = (M+, A+, M-, A-) with S±_i = e^M A (M the
// largest of ln eps and the row's exponents); reported[i] = sum over j > i of the squared hinges of the reported value (docs/semantics.md).
// Boundaries, k and the reported value's theta and m in input units, scaled here (as paper_rows).
template <typename T>
__device__ void official_sums(const T* dist, const T* labels, long n, const int* info, T beta_p, T beta_n, T k_p,
                              T k_n, T t_cap, T theta, T m, double* sums, double* reported) {
  __shared__ T buf[RLL_THREADS];
  __shared__ double dbuf[RLL_THREADS];
  const int e = batch_exponent(info);
  beta_p = scaled_length(beta_p, e);
  beta_n = scaled_length(beta_n, e);
  k_p = scaled_temperature(k_p, e, t_cap);
  k_n = scaled_temperature(k_n, e, t_cap);
  theta = scaled_length(theta, e);
  m = scaled_length(m, e);
  const long i = blockIdx.x;
  const T* row = dist + i * n;
  const T yi = labels[i];
  const T ln_eps = (T)RLL_LN_EPS_SUM;
  T mp = ln_eps, mn = ln_eps;
  double rep = 0;
  for (long j = threadIdx.x; j < n; j += RLL_THREADS) {
    const T d = row[j];
    const bool same = labels[j] == yi;
    T e;
    if (j != i && official_exponent(same, d, beta_p, beta_n, k_p, k_n, &e)) {
      if (same) mp = rll_max(mp, e); else mn = rll_max(mn, e);
    }
    if (j > i) {
      const T h = same ? rll_max(d - (theta - m), (T)0) : rll_max(theta - d, (T)0);
      rep += (double)(h * h);
    }
  }
  mp = block_max(mp, buf);
  mn = block_max(mn, buf);
  T ap = 0, an = 0;
  for (long j = threadIdx.x; j < n; j += RLL_THREADS) {
    const bool same = labels[j] == yi;
    T e;
    if (j != i && official_exponent(same, row[j], beta_p, beta_n, k_p, k_n, &e)) {
      if (same) ap += Num<T>::exp(e - mp); else an += Num<T>::exp(e - mn);
    }
  }
  ap = block_sum(ap, buf);
  an = block_sum(an, buf);
  rep = block_sum(rep, dbuf);
  if (threadIdx.x == 0) {
    sums[4 * i] = (double)mp;
    sums[4 * i + 1] = exp((double)ln_eps - (double)mp) + (double)ap;
    sums[4 * i + 2] = (double)mn;
    sums[4 * i + 3] = exp((double)ln_eps - (double)mn) + (double)an;
    reported[i] = rep;
  }
}

// OFFICIAL, the query weights. Launch: grid 1, block RLL_THREADS. q[i] = (S+_i + S-_i) / Z,
// Z = eps + sum_k (S+_k + S-_k), all in log form.
__device__ void official_query_weights(const double* sums, long n, double* q) {
  __shared__ double buf[RLL_THREADS];
  const double ln_eps = RLL_LN_EPS_SUM;
  double hi = ln_eps;
  for (long i = threadIdx.x; i < n; i += RLL_THREADS) {
    const double lp = sums[4 * i] + log(sums[4 * i + 1]), ln = sums[4 * i + 2] + log(sums[4 * i + 3]);
    const double h = fmax(lp, ln);
    q[i] = h + log(exp(lp - h) + exp(ln - h));  // ln(S+ + S-), for now
    hi = fmax(hi, q[i]);
  }
  hi = block_max(hi, buf);
  double s = 0;
  for (long i = threadIdx.x; i < n; i += RLL_THREADS) s += exp(q[i] - hi);
  s = block_sum(s, buf);
  const double ln_z = hi + log(exp(ln_eps - hi) + s);
  for (long i = threadIdx.x; i < n; i += RLL_THREADS) q[i] = exp(q[i] - ln_z);
}

// OFFICIAL pass 2. Launch: grid n, block RLL_THREADS. A_ij = +-1/2 q_i (w_ij / S±_i) / (d_ij + eps_dir), or without
// the division when eps_dir < 0 (V2019); stats as the CPU path. Lengths and k in input units, scaled here.
template <typename T>
__device__ void official_coef(T* dist_a, const T* labels, long n, const int* info, T beta_p, T beta_n, T k_p, T k_n,
                              T t_cap, T eps_dir, T cap, const double* sums, const double* q, unsigned char* flags,
                              T* stats) {
  __shared__ T buf[RLL_THREADS];
  const int stat_exp = batch_exponent(info);
  beta_p = scaled_length(beta_p, stat_exp);
  beta_n = scaled_length(beta_n, stat_exp);
  k_p = scaled_temperature(k_p, stat_exp, t_cap);
  k_n = scaled_temperature(k_n, stat_exp, t_cap);
  if (eps_dir >= 0) eps_dir = scaled_length(eps_dir, stat_exp);  // < 0 (V2019: no division) stays as it is
  const long i = blockIdx.x;
  T* row = dist_a + i * n;
  const T yi = labels[i];
  const T mp = (T)sums[4 * i], ap = (T)sums[4 * i + 1], mn = (T)sums[4 * i + 2], an = (T)sums[4 * i + 3];
  const T half_q = (T)(0.5 * q[i]);
  T l_p = 0, l_n = 0, cnt_p = 0, cnt_n = 0;
  for (long j = threadIdx.x; j < n; j += RLL_THREADS) {
    const T d = row[j];
    const bool same = labels[j] == yi;
    T e, c = 0;
    if (j != i && official_exponent(same, d, beta_p, beta_n, k_p, k_n, &e)) {
      const T w = Num<T>::exp(e - (same ? mp : mn));
      T g;
      if (same) { cnt_p += 1; l_p += w / ap * (d - beta_p); g = half_q * (w / ap); }
      else { cnt_n += 1; l_n += w / an * (beta_n - d); g = -half_q * (w / an); }
      c = eps_dir >= 0 ? g / (d + eps_dir) : g;
      c = rll_min(rll_max(c, -cap), cap);
      if (c != 0) mark(flags, n, i, j);
    }
    row[j] = c;
  }
  if (stats) {
    l_p = block_sum(l_p, buf); l_n = block_sum(l_n, buf);
    cnt_p = block_sum(cnt_p, buf); cnt_n = block_sum(cnt_n, buf);
    if (threadIdx.x == 0) {
      stats[4 * i] = rll_ldexp(l_p, stat_exp); stats[4 * i + 1] = rll_ldexp(l_n, stat_exp);
      stats[4 * i + 2] = cnt_p; stats[4 * i + 3] = cnt_n;
    }
  }
}

// Launch: grid 1, block RLL_THREADS. out[0] = sum of v (a fixed tree).
template <typename T> __device__ void sum_to_double(const T* v, long n, double* out) {
  __shared__ double buf[RLL_THREADS];
  double s = 0;
  for (long i = threadIdx.x; i < n; i += RLL_THREADS) s += (double)v[i];
  s = block_sum(s, buf);
  if (threadIdx.x == 0) out[0] = s;
}

// Launch: grid 1, block 1. loss[0] = E in input units from total[0] (the row stage's sum, in scaled units), as the
// host's Paper::value (kind 0: the mean over the n rows), Paper::weighted_value (kind 1) and Official::value
// (kind 2: over the n (n - 1) / 2 pairs, times 2^2e); NaN when status[0] >= 0 (a non-finite input).
template <typename T>
__device__ void finish_value(const double* total, const int* info, const long* status, long n, int kind, T* loss) {
  const int e = batch_exponent(info);
  T v;
  if (kind == 0) {
    v = rll_ldexp((T)(total[0] / (double)n), e);
  } else if (kind == 1) {
    v = rll_ldexp((T)total[0], e);
  } else {
    const double pairs = (double)(n * (n - 1) / 2);
    v = pairs > 0 ? rll_ldexp((T)(total[0] / pairs), 2 * e) : (T)0;
  }
  loss[0] = status[0] >= 0 ? Num<T>::nan() : saturate(v);
}

#define RLL_INSTANTIATE(T, S)                                                                                   \
  extern "C" __global__ void rll_paper_rows_##S(T* dist_a, const T* labels, long n, long col0, const long* own, \
                                                const int* info, T beta_p, T beta_n, T t_p, T t_n, T t_cap,     \
                                                T lambda, T lambda_p, T inv_n, T cap, T eps_n, int detach,      \
                                                int symmetric, unsigned char* flags, T* row_loss, T* stats,     \
                                                const T* weights) {                                             \
    paper_rows<T>(dist_a, labels, n, col0, own, info, beta_p, beta_n, t_p, t_n, t_cap, lambda, lambda_p, inv_n,  \
                  cap, eps_n, detach, symmetric, flags, row_loss, stats, weights);                             \
  }                                                                                                             \
  extern "C" __global__ void rll_official_sums_##S(const T* dist, const T* labels, long n, const int* info,     \
                                                   T beta_p, T beta_n, T k_p, T k_n, T t_cap, T theta, T m,     \
                                                   double* sums, double* reported) {                            \
    official_sums<T>(dist, labels, n, info, beta_p, beta_n, k_p, k_n, t_cap, theta, m, sums, reported);        \
  }                                                                                                             \
  extern "C" __global__ void rll_official_coef_##S(T* dist_a, const T* labels, long n, const int* info,         \
                                                   T beta_p, T beta_n, T k_p, T k_n, T t_cap, T eps_dir, T cap, \
                                                   const double* sums, const double* q, unsigned char* flags,   \
                                                   T* stats) {                                                  \
    official_coef<T>(dist_a, labels, n, info, beta_p, beta_n, k_p, k_n, t_cap, eps_dir, cap, sums, q, flags,   \
                     stats);                                                                                    \
  }                                                                                                             \
  extern "C" __global__ void rll_finish_value_##S(const double* total, const int* info, const long* status,     \
                                                  long n, int kind, T* loss) {                                  \
    finish_value<T>(total, info, status, n, kind, loss);                                                        \
  }                                                                                                             \
  extern "C" __global__ void rll_sum_##S(const T* v, long n, double* out) { sum_to_double<T>(v, n, out); }

RLL_INSTANTIATE(float, f32)
RLL_INSTANTIATE(double, f64)

extern "C" __global__ void rll_official_query_weights(const double* sums, long n, double* q) {
  official_query_weights(sums, n, q);
}
