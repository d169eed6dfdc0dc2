//! The row passes of the CPU pipeline: each query's row of the distance matrix to its coefficients, in parallel
//! blocks of rows ([`each_row`], the one row driver), kept as sparse rows or written over the distance matrix
//! (dense); and what they hand to the gradient ([`Coefs`]).

use super::parallel::{for_blocks, row_blocks, BLOCK};
use crate::real::Real;
use crate::rows::SparseRow;

/// The gradient coefficients: B as sparse rows, or A (B, or B + Bᵀ once symmetrised) as a dense N×N matrix.
pub(crate) enum Coefs<T> {
    Sparse { rows: Vec<SparseRow<T>>, symmetric: bool },
    Dense { a: Vec<T>, symmetric: bool },
}

impl<T> Coefs<T> {
    /// `rows` when sparse (`dense` false), else the N×N matrix `a`; A = B + Bᵀ when `symmetric`.
    pub(crate) fn new(dense: bool, a: Vec<T>, rows: Vec<SparseRow<T>>, symmetric: bool) -> Self {
        if dense {
            Coefs::Dense { a, symmetric }
        } else {
            Coefs::Sparse { rows, symmetric }
        }
    }
}

/// Row i of a pass: its distances (which a dense pass overwrites with the coefficients), its output, and its
/// kept sparse row when the pass keeps them.
pub(crate) struct Row<'a, T, S> {
    pub i: usize,
    pub dist: &'a mut [T],
    pub out: &'a mut S,
    pub list: Option<&'a mut SparseRow<T>>,
}

/// Per-block scratch space of the row passes.
#[derive(Default)]
pub(crate) struct Scratch<T> {
    pub list: SparseRow<T>,
    pub w: Vec<T>,
}

/// Runs `f(row i, scratch)` for every row of the n×n `dist`, with `out[i]` and, when `lists` is not empty,
/// `lists[i]`: fixed blocks of [`BLOCK`] rows, each handed its own rows of every buffer (disjoint slices), so the
/// results do not depend on the thread count.
pub(crate) fn each_row<T: Real, S: Send, F>(dist: &mut [T], out: &mut [S], lists: &mut [SparseRow<T>], f: F)
where
    F: Fn(Row<'_, T, S>, &mut Scratch<T>) + Sync,
{
    let n = out.len();
    let blocks: Vec<_> = row_blocks(dist, n, n, BLOCK)
        .into_iter()
        .zip(row_blocks(out, n, 1, BLOCK))
        .zip(row_blocks(lists, n, 1, BLOCK))
        .collect();
    for_blocks(blocks, |b, ((dist, out), lists)| {
        let mut scratch = Scratch::default();
        let mut lists = lists.iter_mut();
        for (k, (dist, out)) in dist.chunks_exact_mut(n).zip(out).enumerate() {
            let row = Row {
                i: b * BLOCK + k,
                dist,
                out,
                list: lists.next(),
            };
            f(row, &mut scratch);
        }
    });
}

/// Whether the coefficients are better kept dense: a sparse term costs about four times a dense one (gathered
/// rows, no register blocking), so dense when 4·nnz > N². Counting the sets is one cheap pass over the distances.
pub(crate) fn is_dense<T: Real>(dist: &mut [T], labels: &[T], beta_p: T, beta_n: T, symmetric: bool) -> bool {
    let n = labels.len();
    let mut counts = vec![0usize; n];
    each_row(dist, &mut counts, &mut [], |r, _| {
        let yi = labels[r.i];
        *r.out = labels
            .iter()
            .zip(r.dist.iter())
            .filter(|&(&y, &d)| if y == yi { d > beta_p } else { d < beta_n })
            .count();
    });
    let nnz = counts.iter().sum::<usize>() * if symmetric { 2 } else { 1 };
    nnz.saturating_mul(4) > n * n
}
