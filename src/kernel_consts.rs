//! The numbers the CPU code and the CUDA kernels share, written once. `cuda/build_ptx.py` reads this file and
//! passes each constant to NVRTC as `-DRLL_<NAME>=<value>` (so every value here is a plain literal or a
//! literal expression), plus `RLL_LN_EPS_SUM` = ln [`EPS_SUM`] as Python's `math.log` gives it; `ptx-check` fails
//! when the committed PTX was built from other values.

/// ε of the original layer's sums: S^±_i = ε + Σ w, Z = ε + Σ_k (S⁺_k + S⁻_k).
pub const EPS_SUM: f64 = 1e-8;

/// A pair is *close* when ‖x_i − x_j‖² < CLOSE_PAIR_RATIO · (‖x_i‖² + ‖x_j‖²): the Gram form of its distance has
/// lost more than six bits to cancellation, so it is recomputed from the input (`cpu::distance::pairwise`,
/// `gram_distance` in `cuda/distance.cu`).
pub const CLOSE_PAIR_RATIO: f64 = 1.0 / 64.0;

/// Rows of one tile of A in the GPU gradient product, and of one nonzero flag (flags: ⌈N/ROWS⌉ × ⌈N/COLS⌉).
pub const FLAG_TILE_ROWS: usize = 64;
/// Columns (the product's k) of one such tile.
pub const FLAG_TILE_COLS: usize = 16;

/// Threads per block of the one-dimensional kernels (their reductions are fixed trees over this many values).
pub const THREADS: u32 = 256;

/// Side of the square tile of the distance matrix that one `gram_distance` block computes.
pub const GRAM_TILE: u32 = 128;
/// `gram_distance`'s block is GRAM_THREADS × GRAM_THREADS threads, each computing an 8 × 8 sub-tile.
pub const GRAM_THREADS: u32 = 16;
/// The k chunk of `gram_distance`'s product staged in shared memory.
pub const GRAM_K: u32 = 8;

/// The STRIP_TILE × STRIP_TILE tiles of the transposing kernels (`mirror_lower`, `symmetrize_add`) and the
/// STRIP_TILE columns of `column_partial`, walked by blocks of STRIP_TILE × STRIP_ROWS threads.
pub const STRIP_TILE: u32 = 32;
/// Thread rows of those blocks.
pub const STRIP_ROWS: u32 = 8;

/// Columns of one tile of the gradient product (FLAG_TILE_ROWS × GRAD_COLS per block).
pub const GRAD_COLS: u32 = 64;
/// The gradient product's block is GRAD_THREADS × GRAD_THREADS threads, each computing a 4 × 4 sub-tile.
pub const GRAD_THREADS: u32 = 16;

/// Row chunks of the two-stage column reductions (`column_partial`, `column_finish`).
pub const COL_CHUNKS: u32 = 64;

/// Blocks of the search for the first non-finite input (`first_nonfinite`).
pub const CHECK_BLOCKS: u32 = 256;
