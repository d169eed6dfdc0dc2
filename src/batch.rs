//! What every backend and every host share about one host call, below all of them: the batch ([`Batch`]) and the
//! statistics' layout ([`STATS_PER_SAMPLE`]). The device calls' arguments are in `device_args.rs`.

/// Number of per-sample statistics: L_P(i), L_N(i), |P*_i|, |N*_i|.
pub const STATS_PER_SAMPLE: usize = 4;

/// The inputs of one host evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, T> {
    /// n×d features, row-major.
    pub x: &'a [T],
    /// n class ids, compared with `==`.
    pub labels: &'a [T],
    pub n: usize,
    pub d: usize,
}
