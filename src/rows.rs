//! The per-query (row) results shared by every semantics: one sparse row of gradient coefficients B_ij (only the
//! pairs in the query's sets are nonzero), where ∂E/∂x_i = Σ_j B_ij (x_i − x_j) for the query's own list.

/// The nonzero coefficients of one row, as (j, B_ij) with j increasing.
pub type SparseRow<T> = Vec<(u32, T)>;

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
