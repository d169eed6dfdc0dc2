//! The per-query (row) step shared by every semantics: from one row of distances to one row of gradient
//! coefficients B_ij, where ∂E/∂x_i = Σ_j B_ij (x_i − x_j) for the query's own list.

use crate::real::Real;

/// What one query's list contributes, in scaled units.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowStats<T> {
    /// The row's term of the loss (PAPER: L_P(i) + λ L_N(i)).
    pub loss: T,
    /// L_P(i): weighted mean positive hinge.
    pub l_p: T,
    /// L_N(i): weighted mean negative hinge.
    pub l_n: T,
    /// |P*_i|.
    pub n_pos: usize,
    /// |N*_i|.
    pub n_neg: usize,
}

/// One semantics' row computation.
pub(crate) trait RowCoef<T: Real>: Sync {
    /// Fills `coef` (length N) for query `i` from its distance row and returns the row's statistics.
    fn row(&self, i: usize, labels: &[T], dist: &[T], coef: &mut [T]) -> RowStats<T>;
}
