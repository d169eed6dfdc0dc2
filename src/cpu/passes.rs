//! The row passes of the CPU pipeline: each query's row of the distance matrix to its coefficients, in parallel
//! blocks of rows, kept as sparse rows or written over the distance matrix (dense).

use super::gradient::Coefs;
use super::parallel::{for_row_blocks, SharedRows};
use crate::real::Real;
use crate::rows::{RowStats, SparseRow};

/// Rows per parallel block in the row passes and the gradient product.
pub(crate) const BLOCK: usize = 32;

/// Whether the coefficients are better kept dense: a sparse term costs about four times a dense one (gathered
/// rows, no register blocking), so dense when 4·nnz > N². Counting the sets is one cheap pass over the distances.
pub(crate) fn is_dense<T: Real>(dist: &[T], labels: &[T], beta_p: T, beta_n: T, symmetric: bool) -> bool {
    let n = labels.len();
    let mut counts = vec![0usize; n];
    let c = SharedRows::new(&mut counts, n, 1);
    for_row_blocks(n, BLOCK, |r0, r1| {
        // SAFETY: each block writes only its own rows r0..r1.
        let c = unsafe { c.rows_mut(r0, r1) };
        for i in r0..r1 {
            let row = &dist[i * n..(i + 1) * n];
            c[i - r0] = labels
                .iter()
                .zip(row)
                .filter(|&(&y, &d)| if y == labels[i] { d > beta_p } else { d < beta_n })
                .count();
        }
    });
    let nnz = counts.iter().sum::<usize>() * if symmetric { 2 } else { 1 };
    nnz.saturating_mul(4) > n * n
}

/// Per-block scratch space of the row passes.
#[derive(Default)]
pub(crate) struct Scratch<T> {
    pub list: SparseRow<T>,
    pub w: Vec<T>,
}

/// Runs `f(i, dist row i, scratch)` for every row (in parallel blocks) and stores its statistics in `out[i]`.
/// Dense: `f` overwrites dist row i with the row's coefficients (row i is read by row i alone, so the distance
/// buffer becomes A). Sparse: `f` leaves them in `scratch.list`, which is kept as row i.
pub(crate) fn coef_rows<T: Real, F>(mut dist: Vec<T>, n: usize, dense: bool, out: &mut [RowStats<T>], f: F) -> Coefs<T>
where
    F: Fn(usize, &mut [T], &mut Scratch<T>) -> RowStats<T> + Sync,
{
    let mut lists: Vec<SparseRow<T>> = vec![Vec::new(); if dense { 0 } else { n }];
    {
        let dm = SharedRows::new(&mut dist, n, n);
        let ls = SharedRows::new(&mut lists, if dense { 0 } else { n }, 1);
        let os = SharedRows::new(out, n, 1);
        for_row_blocks(n, BLOCK, |r0, r1| {
            // SAFETY: each block touches only its own rows r0..r1 of every buffer.
            let (drows, orows) = unsafe { (dm.rows_mut(r0, r1), os.rows_mut(r0, r1)) };
            let mut scratch = Scratch::default();
            for i in r0..r1 {
                orows[i - r0] = f(i, &mut drows[(i - r0) * n..(i - r0 + 1) * n], &mut scratch);
                if !dense {
                    // SAFETY: row i of `lists` belongs to this block.
                    unsafe { ls.rows_mut(i, i + 1)[0] = std::mem::take(&mut scratch.list) };
                }
            }
        });
    }
    if dense {
        Coefs::Dense {
            a: dist,
            symmetric: false,
        }
    } else {
        Coefs::Sparse {
            rows: lists,
            symmetric: false,
        }
    }
}

/// Runs `f(i, &mut out[i], scratch)` for every row; when `keep` is given, the scratch list `f` returns is kept
/// as `keep[i]`.
pub(crate) fn par_rows<T: Real, S: Send, F>(n: usize, out: &mut [S], f: F, keep: Option<&mut Vec<SparseRow<T>>>)
where
    F: for<'s> Fn(usize, &mut S, &'s mut SparseRow<T>) -> &'s mut SparseRow<T> + Sync,
{
    let kept = keep.is_some();
    let mut none: Vec<SparseRow<T>> = Vec::new();
    let keep = keep.unwrap_or(&mut none);
    let ks = SharedRows::new(keep, if kept { n } else { 0 }, 1);
    let os = SharedRows::new(out, n, 1);
    for_row_blocks(n, BLOCK, |r0, r1| {
        // SAFETY: each block touches only its own rows r0..r1.
        let orows = unsafe { os.rows_mut(r0, r1) };
        let mut scratch = Vec::new();
        for i in r0..r1 {
            let list = f(i, &mut orows[i - r0], &mut scratch);
            if kept {
                // SAFETY: row i of `keep` belongs to this block.
                unsafe { ks.rows_mut(i, i + 1)[0] = std::mem::take(list) };
            }
        }
    });
}
