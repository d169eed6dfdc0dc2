//! The one table of the kernels of `cuda/*.cu`: each kernel's name, parameter list (names and types, as in its
//! `extern "C" __global__` signature) and launch rule (grid and block from the batch's n and d, in the constants
//! of `src/kernel_consts.rs`). The launch code takes its geometry and its kernel names from here only; the table is
//! checked against the PTX's `.entry` lists when the modules load (and by the unit tests below, which also check
//! it against the `.cu` signatures), and every launch's arguments against it.

use crate::kernel_consts::{
    CHECK_BLOCKS, COL_CHUNKS, FLAG_TILE_ROWS, GRAD_COLS, GRAD_THREADS, GRAM_THREADS, GRAM_TILE, STRIP_ROWS, STRIP_TILE,
    THREADS,
};

/// A kernel parameter's type: `Ptr` any pointer, `Real` the kernel's element type T (f32 or f64 by its suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    Ptr,
    /// C `long` (64 bits on every CUDA host).
    I64,
    /// C `int`.
    I32,
    Real,
    F64,
}

impl ArgType {
    /// The bytes of the parameter in the PTX `.param` list, T being `real_bytes` wide.
    pub fn bytes(self, real_bytes: usize) -> usize {
        match self {
            ArgType::Ptr | ArgType::I64 | ArgType::F64 => 8,
            ArgType::I32 => 4,
            ArgType::Real => real_bytes,
        }
    }
}

/// What a grid dimension covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    N,
    /// The query rows (m = n for a batch against itself, m < n for queries against references).
    M,
    D,
    /// n·d values.
    Nd,
    /// m·n values.
    Mn,
    /// The rows after the queries (n − m: the references).
    Refs,
}

/// One grid dimension: a fixed count of blocks, ⌈extent / per⌉ blocks, or that many up to a most (a
/// grid-stride loop's grid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocks {
    Fixed(u32),
    Cover(Extent, u32),
    CoverAtMost(Extent, u32, u32),
}

use ArgType::{Ptr, Real, I32, I64};
use Blocks::{Cover, CoverAtMost, Fixed};
use Extent::{Mn, Nd, Refs, D, M, N};

/// One kernel: `rll_<base>_<f32|f64>` when `typed` (a template instantiated per element type), else
/// `rll_<base>`; its parameters in order; grid (x, y) and block (x, y).
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    pub base: &'static str,
    pub typed: bool,
    pub params: &'static [(&'static str, ArgType)],
    pub grid: (Blocks, Blocks),
    pub block: (u32, u32),
}

impl Kernel {
    /// The kernel's name for element type suffix `suffix` ("f32", "f64"): the one way names are built.
    pub fn name(&self, suffix: &str) -> String {
        if self.typed {
            format!("rll_{}_{suffix}", self.base)
        } else {
            format!("rll_{}", self.base)
        }
    }
}

const fn k(
    base: &'static str,
    typed: bool,
    params: &'static [(&'static str, ArgType)],
    grid: (Blocks, Blocks),
    block: (u32, u32),
) -> Kernel {
    Kernel {
        base,
        typed,
        params,
        grid,
        block,
    }
}

/// One block per row of the batch (n blocks of THREADS).
const PER_ROW: (Blocks, Blocks) = (Cover(N, 1), Fixed(1));
/// One block per query row (m blocks of THREADS).
const PER_QUERY: (Blocks, Blocks) = (Cover(M, 1), Fixed(1));
/// One block of THREADS.
const ONE: (Blocks, Blocks) = (Fixed(1), Fixed(1));
const fn flat(e: Extent) -> (Blocks, Blocks) {
    (Cover(e, THREADS), Fixed(1))
}
const STRIP: (u32, u32) = (STRIP_TILE, STRIP_ROWS);
/// Square tiles of STRIP_TILE over the n × n matrix.
const STRIP_TILES: (Blocks, Blocks) = (Cover(N, STRIP_TILE), Cover(N, STRIP_TILE));

// cuda/distance.cu
pub const COLUMN_PARTIAL: Kernel = k(
    "column_partial",
    true,
    &[
        ("x", Ptr),
        ("n", I64),
        ("d", I64),
        ("info", Ptr),
        ("mean", Ptr),
        ("what", I32),
        ("partial", Ptr),
    ],
    (Cover(D, STRIP_TILE), Fixed(COL_CHUNKS)),
    STRIP,
);
pub const COLUMN_FINISH: Kernel = k(
    "column_finish",
    false,
    &[("partial", Ptr), ("n", I64), ("d", I64), ("what", I32), ("out", Ptr)],
    flat(D),
    (THREADS, 1),
);
pub const EXPONENT_OF_MAX: Kernel = k(
    "exponent_of_max",
    false,
    &[("colmax", Ptr), ("d", I64), ("info", Ptr), ("slot", I32)],
    ONE,
    (THREADS, 1),
);
pub const FIRST_NONFINITE: Kernel = k(
    "first_nonfinite",
    true,
    &[("v", Ptr), ("count", I64), ("partial", Ptr)],
    (CoverAtMost(N, THREADS, CHECK_BLOCKS), Fixed(1)),
    (THREADS, 1),
);
pub const CHECK_STATUS: Kernel = k(
    "check_status",
    false,
    &[("partial", Ptr), ("nd", I64), ("status", Ptr), ("status_out", Ptr)],
    ONE,
    (1, 1),
);
pub const CENTRE_SCALE: Kernel = k(
    "centre_scale",
    true,
    &[
        ("x", Ptr),
        ("n", I64),
        ("d", I64),
        ("info", Ptr),
        ("mean", Ptr),
        ("xs", Ptr),
    ],
    flat(Nd),
    (THREADS, 1),
);
pub const ROW_NORMS: Kernel = k(
    "row_norms",
    true,
    &[("xs", Ptr), ("n", I64), ("d", I64), ("norms", Ptr)],
    flat(N),
    (THREADS, 1),
);
pub const GRAM_DISTANCE: Kernel = k(
    "gram_distance",
    true,
    &[
        ("xs", Ptr),
        ("norms", Ptr),
        ("x", Ptr),
        ("info", Ptr),
        ("n", I64),
        ("m", I64),
        ("d", I64),
        ("dist", Ptr),
        ("close", Ptr),
    ],
    (Cover(N, GRAM_TILE), Cover(M, GRAM_TILE)),
    (GRAM_THREADS, GRAM_THREADS),
);
pub const MIRROR_LOWER: Kernel = k("mirror_lower", true, &[("dist", Ptr), ("n", I64)], STRIP_TILES, STRIP);

// cuda/rows.cu
pub const PAPER_ROWS: Kernel = k(
    "paper_rows",
    true,
    &[
        ("dist_a", Ptr),
        ("labels", Ptr),
        ("n", I64),
        ("col0", I64),
        ("own", Ptr),
        ("info", Ptr),
        ("beta_p", Real),
        ("beta_n", Real),
        ("t_p", Real),
        ("t_n", Real),
        ("t_cap", Real),
        ("lambda", Real),
        ("lambda_p", Real),
        ("inv_n", Real),
        ("cap", Real),
        ("eps_n", Real),
        ("detach", I32),
        ("symmetric", I32),
        ("flags", Ptr),
        ("row_loss", Ptr),
        ("stats", Ptr),
        ("weights", Ptr),
    ],
    PER_QUERY,
    (THREADS, 1),
);
pub const OFFICIAL_SUMS: Kernel = k(
    "official_sums",
    true,
    &[
        ("dist", Ptr),
        ("labels", Ptr),
        ("n", I64),
        ("info", Ptr),
        ("beta_p", Real),
        ("beta_n", Real),
        ("k_p", Real),
        ("k_n", Real),
        ("t_cap", Real),
        ("theta", Real),
        ("m", Real),
        ("sums", Ptr),
        ("reported", Ptr),
    ],
    PER_ROW,
    (THREADS, 1),
);
pub const OFFICIAL_QUERY_WEIGHTS: Kernel = k(
    "official_query_weights",
    false,
    &[("sums", Ptr), ("n", I64), ("q", Ptr)],
    ONE,
    (THREADS, 1),
);
pub const OFFICIAL_COEF: Kernel = k(
    "official_coef",
    true,
    &[
        ("dist_a", Ptr),
        ("labels", Ptr),
        ("n", I64),
        ("info", Ptr),
        ("beta_p", Real),
        ("beta_n", Real),
        ("k_p", Real),
        ("k_n", Real),
        ("t_cap", Real),
        ("eps_dir", Real),
        ("cap", Real),
        ("sums", Ptr),
        ("q", Ptr),
        ("flags", Ptr),
        ("stats", Ptr),
    ],
    PER_ROW,
    (THREADS, 1),
);
pub const SUM: Kernel = k("sum", true, &[("v", Ptr), ("n", I64), ("out", Ptr)], ONE, (THREADS, 1));
pub const FINISH_VALUE: Kernel = k(
    "finish_value",
    true,
    &[
        ("total", Ptr),
        ("info", Ptr),
        ("status", Ptr),
        ("n", I64),
        ("kind", I32),
        ("loss", Ptr),
    ],
    ONE,
    (1, 1),
);

// cuda/gradient.cu
pub const SYMMETRIZE_ADD: Kernel = k("symmetrize_add", true, &[("a", Ptr), ("n", I64)], STRIP_TILES, STRIP);
pub const ROW_SUMS: Kernel = k(
    "row_sums",
    true,
    &[("a", Ptr), ("n", I64), ("rsum", Ptr)],
    PER_QUERY,
    (THREADS, 1),
);
pub const GRADIENT: Kernel = k(
    "gradient",
    true,
    &[
        ("a", Ptr),
        ("xs", Ptr),
        ("rsum", Ptr),
        ("flags", Ptr),
        ("c", Ptr),
        ("n", I64),
        ("m", I64),
        ("d", I64),
        ("info", Ptr),
        ("loss_weight", Real),
        ("scale_exp", I32),
        ("status", Ptr),
        ("grad", Ptr),
    ],
    (Cover(D, GRAD_COLS), Cover(M, FLAG_TILE_ROWS as u32)),
    (GRAD_THREADS, GRAD_THREADS),
);
pub const REF_GRADIENT: Kernel = k(
    "ref_gradient",
    true,
    &[
        ("a", Ptr),
        ("xs", Ptr),
        ("x", Ptr),
        ("info", Ptr),
        ("close", Ptr),
        ("n", I64),
        ("m", I64),
        ("d", I64),
        ("loss_weight", Real),
        ("status", Ptr),
        ("grad", Ptr),
    ],
    (Cover(Refs, 1), Fixed(1)),
    (THREADS, 1),
);
pub const CLOSE_TERMS: Kernel = k(
    "close_terms",
    true,
    &[
        ("a", Ptr),
        ("x", Ptr),
        ("info", Ptr),
        ("close", Ptr),
        ("n", I64),
        ("d", I64),
        ("c", Ptr),
    ],
    PER_QUERY,
    (THREADS, 1),
);
pub const ZERO_CLOSE: Kernel = k(
    "zero_close",
    true,
    &[("a", Ptr), ("close", Ptr), ("count", I64)],
    flat(Mn),
    (THREADS, 1),
);

// cuda/normalize.cu
pub const L2_FORWARD: Kernel = k(
    "l2_forward",
    true,
    &[("x", Ptr), ("n", I64), ("d", I64), ("y", Ptr), ("norms", Ptr)],
    PER_ROW,
    (THREADS, 1),
);
pub const L2_BACKWARD: Kernel = k(
    "l2_backward",
    true,
    &[
        ("y", Ptr),
        ("dy", Ptr),
        ("norms", Ptr),
        ("n", I64),
        ("d", I64),
        ("dx", Ptr),
    ],
    PER_ROW,
    (THREADS, 1),
);

// cuda/convert.cu: grid-stride loops over `count` values.
const CONVERT_GRID: (Blocks, Blocks) = (Fixed(CHECK_BLOCKS), Fixed(1));
const CONVERT_PARAMS: &[(&str, ArgType)] = &[("src", Ptr), ("count", I64), ("dst", Ptr)];
pub const F16_TO_F32: Kernel = k("f16_to_f32", false, CONVERT_PARAMS, CONVERT_GRID, (THREADS, 1));
pub const BF16_TO_F32: Kernel = k("bf16_to_f32", false, CONVERT_PARAMS, CONVERT_GRID, (THREADS, 1));
pub const F32_TO_F16: Kernel = k("f32_to_f16", false, CONVERT_PARAMS, CONVERT_GRID, (THREADS, 1));
pub const F32_TO_BF16: Kernel = k("f32_to_bf16", false, CONVERT_PARAMS, CONVERT_GRID, (THREADS, 1));

/// Every kernel, by family (`cuda/<family>.cu`).
pub const FAMILIES: [(&str, &[Kernel]); 5] = [
    (
        "distance",
        &[
            COLUMN_PARTIAL,
            COLUMN_FINISH,
            EXPONENT_OF_MAX,
            FIRST_NONFINITE,
            CHECK_STATUS,
            CENTRE_SCALE,
            ROW_NORMS,
            GRAM_DISTANCE,
            MIRROR_LOWER,
        ],
    ),
    (
        "rows",
        &[
            PAPER_ROWS,
            OFFICIAL_SUMS,
            OFFICIAL_QUERY_WEIGHTS,
            OFFICIAL_COEF,
            SUM,
            FINISH_VALUE,
        ],
    ),
    (
        "gradient",
        &[
            SYMMETRIZE_ADD,
            ROW_SUMS,
            GRADIENT,
            REF_GRADIENT,
            CLOSE_TERMS,
            ZERO_CLOSE,
        ],
    ),
    ("normalize", &[L2_FORWARD, L2_BACKWARD]),
    ("convert", &[F16_TO_F32, BF16_TO_F32, F32_TO_F16, F32_TO_BF16]),
];

/// The element types of the typed kernels: (suffix, bytes of T).
pub const INSTANCES: [(&str, usize); 2] = [("f32", 4), ("f64", 8)];

/// The `.entry` kernels of a PTX text with their parameter sizes in bytes.
pub fn ptx_entries(ptx: &str) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut rest = ptx;
    while let Some(at) = rest.find(".visible .entry ") {
        rest = &rest[at + ".visible .entry ".len()..];
        let open = rest.find('(').unwrap_or(rest.len());
        let close = rest.find(')').unwrap_or(rest.len());
        let name = rest[..open].trim().to_string();
        let sizes = rest[open.min(close)..close]
            .split(',')
            .filter_map(|p| {
                let ty = p.split_whitespace().find(|w| {
                    w.starts_with(".u") || w.starts_with(".s") || w.starts_with(".f") || w.starts_with(".b")
                })?;
                ty[2..].parse::<usize>().ok().map(|bits| bits / 8)
            })
            .collect();
        out.push((name, sizes));
        rest = &rest[close..];
    }
    out
}

/// The table against one family's PTX: the same kernels, each with the parameter sizes of its table entry.
pub fn check_family(family: &str, ptx: &str) -> Result<(), String> {
    let kernels = FAMILIES
        .iter()
        .find(|(f, _)| *f == family)
        .map(|(_, k)| *k)
        .ok_or_else(|| format!("no family {family} in the kernel table"))?;
    let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
    for kernel in kernels {
        let instances: &[(&str, usize)] = if kernel.typed { &INSTANCES } else { &INSTANCES[..1] };
        for &(suffix, bytes) in instances {
            let sizes = kernel.params.iter().map(|&(_, t)| t.bytes(bytes)).collect();
            expected.push((kernel.name(suffix), sizes));
        }
    }
    let mut found = ptx_entries(ptx);
    expected.sort();
    found.sort();
    if expected == found {
        return Ok(());
    }
    let describe = |v: &[(String, Vec<usize>)]| -> Vec<String> { v.iter().map(|(n, s)| format!("{n}{s:?}")).collect() };
    let (e, f) = (describe(&expected), describe(&found));
    let missing: Vec<&String> = e.iter().filter(|x| !f.contains(x)).collect();
    let extra: Vec<&String> = f.iter().filter(|x| !e.contains(x)).collect();
    Err(format!(
        "cuda/{family}.cu: the kernel table (src/cuda/table.rs) and the PTX differ: table only {missing:?}, PTX only {extra:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda::kernels::PTX;
    use ArgType::F64;

    #[test]
    fn the_table_matches_the_committed_ptx() {
        for (family, src) in PTX {
            check_family(family, src).unwrap();
        }
        let total: usize = PTX.iter().map(|(_, s)| ptx_entries(s).len()).sum();
        let listed: usize = FAMILIES
            .iter()
            .flat_map(|(_, k)| k.iter())
            .map(|k| if k.typed { 2 } else { 1 })
            .sum();
        assert_eq!(total, listed);
    }

    #[test]
    fn a_changed_parameter_list_is_found() {
        let ptx = PTX[0].1.replacen(
            ".param .u64 rll_gram_distance_f32_param_8\n",
            ".param .u64 rll_gram_distance_f32_param_8,\n\t.param .u32 rll_gram_distance_f32_param_9\n",
            1,
        );
        assert_ne!(ptx, PTX[0].1);
        let e = check_family("distance", &ptx).unwrap_err();
        assert!(e.contains("rll_gram_distance_f32"), "{e}");
    }

    /// A kernel's signature: name without the `_##S` suffix, typed, [(parameter name, type)].
    type Signature = (String, bool, Vec<(String, ArgType)>);

    /// The `extern "C" __global__` signatures of cuda/<family>.cu.
    fn cu_signatures(src: &str) -> Vec<Signature> {
        let flat: String = src.replace("\\\n", " ");
        let mut out = Vec::new();
        let mut rest = flat.as_str();
        while let Some(at) = rest.find("extern \"C\" __global__ void rll_") {
            rest = &rest[at + "extern \"C\" __global__ void rll_".len()..];
            let open = rest.find('(').unwrap();
            let close = rest.find(')').unwrap();
            let raw = rest[..open].trim();
            let (base, typed) = match raw.strip_suffix("_##S") {
                Some(b) => (b.to_string(), true),
                None => (raw.to_string(), false),
            };
            let params = rest[open + 1..close]
                .split(',')
                .map(|p| {
                    let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
                    let (ty, name) = p.rsplit_once([' ', '*']).unwrap();
                    let pointer = p.contains('*');
                    let ty = ty.trim();
                    let t = if pointer {
                        Ptr
                    } else {
                        match ty {
                            "long" => I64,
                            "int" => I32,
                            "T" => Real,
                            "double" => F64,
                            other => panic!("unknown parameter type {other} in rll_{base}"),
                        }
                    };
                    (name.trim().to_string(), t)
                })
                .collect();
            out.push((base, typed, params));
            rest = &rest[close..];
        }
        out
    }

    #[test]
    fn the_table_matches_the_cu_signatures() {
        for (family, kernels) in FAMILIES {
            let path = format!("{}/cuda/{family}.cu", env!("CARGO_MANIFEST_DIR"));
            let src = std::fs::read_to_string(&path).unwrap();
            let mut sigs = cu_signatures(&src);
            let mut table: Vec<Signature> = kernels
                .iter()
                .map(|k| {
                    let params = k.params.iter().map(|&(n, t)| (n.to_string(), t)).collect();
                    (k.base.to_string(), k.typed, params)
                })
                .collect();
            sigs.sort_by(|a, b| a.0.cmp(&b.0));
            table.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(sigs, table, "{path}");
        }
    }
}
