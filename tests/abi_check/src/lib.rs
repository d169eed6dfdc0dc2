//! The header as bindgen reads it, checked against the Rust exports of `ranked_list_loss::capi`.
#![allow(non_camel_case_types, non_upper_case_globals, dead_code, clippy::all)]

/// What bindgen generated from `cpp/include/ranked_list_loss.h`.
pub mod header {
    include!(concat!(env!("OUT_DIR"), "/header.rs"));
}

#[cfg(test)]
mod tests {
    use super::header as h;
    use ranked_list_loss::capi as r;
    use std::mem::{align_of, offset_of, size_of};

    /// Compiles only if both arguments have the same type.
    fn same_type<T>(_: T, _: T) {}

    #[test]
    fn params_struct_has_the_same_layout() {
        assert_eq!(size_of::<h::rll_params>(), size_of::<r::rll_params>());
        assert_eq!(align_of::<h::rll_params>(), align_of::<r::rll_params>());
        macro_rules! field {
            ($f:ident) => {{
                assert_eq!(
                    offset_of!(h::rll_params, $f),
                    offset_of!(r::rll_params, $f),
                    stringify!($f)
                );
                let (a, b): (h::rll_params, r::rll_params) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
                same_type(&a.$f, &b.$f);
            }};
        }
        field!(margin);
        field!(alpha);
        field!(t_n);
        field!(t_p);
        field!(base_n);
        field!(base_p);
        field!(lambda);
        field!(semantics);
        field!(query_only);
        field!(detach_weights);
    }

    #[test]
    fn semantics_constants_agree() {
        assert_eq!(h::rll_semantics_RLL_PAPER as i32, r::RLL_PAPER);
        assert_eq!(h::rll_semantics_RLL_OFFICIAL_V2020 as i32, r::RLL_OFFICIAL_V2020);
        assert_eq!(h::rll_semantics_RLL_OFFICIAL_V2019 as i32, r::RLL_OFFICIAL_V2019);
    }

    #[test]
    fn error_codes_agree() {
        use ranked_list_loss::ErrorKind as K;
        let pairs = [
            (h::rll_error_RLL_ERR_NULL_POINTER, K::NullPointer),
            (h::rll_error_RLL_ERR_SIZE, K::Size),
            (h::rll_error_RLL_ERR_NON_FINITE, K::NonFinite),
            (h::rll_error_RLL_ERR_PARAMETER, K::Parameter),
            (h::rll_error_RLL_ERR_DECODE, K::Decode),
            (h::rll_error_RLL_ERR_INTERNAL, K::Internal),
            (h::rll_error_RLL_ERR_DEVICE, K::Device),
        ];
        for (c, k) in pairs {
            assert_eq!(c as i32, k as i32, "{k:?}");
        }
    }

    /// The header's prototypes, with the header's struct swapped for ours (same layout, checked above), must have
    /// exactly the type of the Rust functions.
    #[test]
    fn function_signatures_agree() {
        type P = h::rll_params;
        let f32_h: unsafe extern "C" fn(*const P, *const f32, *const f32, i64, i64, f32, *mut f32, *mut f32) -> i32 =
            h::rll_loss_f32;
        let f64_h: unsafe extern "C" fn(*const P, *const f64, *const f64, i64, i64, f64, *mut f64, *mut f64) -> i32 =
            h::rll_loss_f64;
        type R = r::rll_params;
        let f32_r: unsafe extern "C" fn(*const R, *const f32, *const f32, i64, i64, f32, *mut f32, *mut f32) -> i32 =
            r::rll_loss_f32;
        let f64_r: unsafe extern "C" fn(*const R, *const f64, *const f64, i64, i64, f64, *mut f64, *mut f64) -> i32 =
            r::rll_loss_f64;
        let _ = (f32_h, f64_h, f32_r, f64_r);
        use std::ffi::c_void;
        type Gpu32<P> = unsafe extern "C" fn(
            *const P,
            *const f32,
            *const f32,
            i64,
            i64,
            f32,
            *mut f32,
            *mut f32,
            *mut c_void,
            i32,
        ) -> i32;
        type Gpu64<P> = unsafe extern "C" fn(
            *const P,
            *const f64,
            *const f64,
            i64,
            i64,
            f64,
            *mut f64,
            *mut f64,
            *mut c_void,
            i32,
        ) -> i32;
        let _: (Gpu32<P>, Gpu64<P>) = (h::rll_loss_gpu_f32, h::rll_loss_gpu_f64);
        let _: (Gpu32<R>, Gpu64<R>) = (r::rll_loss_gpu_f32, r::rll_loss_gpu_f64);
        type Async<P, T, L, G> = unsafe extern "C" fn(
            *const P,
            *const T,
            *const T,
            i64,
            i64,
            L,
            *mut L,
            *mut G,
            *mut i64,
            *mut c_void,
            usize,
            *mut c_void,
            i32,
        ) -> i32;
        let _: (Async<P, f32, f32, f32>, Async<P, f64, f64, f64>) =
            (h::rll_loss_gpu_async_f32, h::rll_loss_gpu_async_f64);
        let _: (Async<R, f32, f32, f32>, Async<R, f64, f64, f64>) =
            (r::rll_loss_gpu_async_f32, r::rll_loss_gpu_async_f64);
        let _: (Async<P, u16, f32, u16>, Async<P, u16, f32, u16>) =
            (h::rll_loss_gpu_async_f16, h::rll_loss_gpu_async_bf16);
        let _: (Async<R, u16, f32, u16>, Async<R, u16, f32, u16>) =
            (r::rll_loss_gpu_async_f16, r::rll_loss_gpu_async_bf16);
        type Bytes<P> = unsafe extern "C" fn(*const P, i64, i64) -> usize;
        let _: [Bytes<P>; 4] = [
            h::rll_gpu_workspace_bytes_f32,
            h::rll_gpu_workspace_bytes_f64,
            h::rll_gpu_workspace_bytes_f16,
            h::rll_gpu_workspace_bytes_bf16,
        ];
        let _: [Bytes<R>; 4] = [
            r::rll_gpu_workspace_bytes_f32,
            r::rll_gpu_workspace_bytes_f64,
            r::rll_gpu_workspace_bytes_f16,
            r::rll_gpu_workspace_bytes_bf16,
        ];
        type Queries<P, T> = unsafe extern "C" fn(
            *const P,
            *const T,
            *const T,
            i64,
            i64,
            i64,
            i64,
            *const f64,
            T,
            *mut T,
            *mut T,
        ) -> i32;
        let _: (Queries<P, f32>, Queries<P, f64>) = (h::rll_loss_queries_f32, h::rll_loss_queries_f64);
        let _: (Queries<R, f32>, Queries<R, f64>) = (r::rll_loss_queries_f32, r::rll_loss_queries_f64);
        type Refs<P, T> = unsafe extern "C" fn(
            *const P,
            *const T,
            *const T,
            i64,
            *const T,
            *const T,
            i64,
            i64,
            *const i64,
            T,
            *mut T,
            *mut T,
            *mut T,
        ) -> i32;
        let _: (Refs<P, f32>, Refs<P, f64>) = (h::rll_loss_references_f32, h::rll_loss_references_f64);
        let _: (Refs<R, f32>, Refs<R, f64>) = (r::rll_loss_references_f32, r::rll_loss_references_f64);
        type RefsGpu<P, T> = unsafe extern "C" fn(
            *const P,
            *const T,
            *const T,
            i64,
            i64,
            i64,
            *const i64,
            T,
            *mut T,
            *mut T,
            *mut T,
            *mut i64,
            *mut c_void,
            usize,
            *mut c_void,
            i32,
        ) -> i32;
        let _: (RefsGpu<P, f32>, RefsGpu<P, f64>) = (
            h::rll_loss_references_gpu_async_f32,
            h::rll_loss_references_gpu_async_f64,
        );
        let _: (RefsGpu<R, f32>, RefsGpu<R, f64>) = (
            r::rll_loss_references_gpu_async_f32,
            r::rll_loss_references_gpu_async_f64,
        );
        type RefBytes<P> = unsafe extern "C" fn(*const P, i64, i64, i64) -> usize;
        let _: [RefBytes<P>; 2] = [
            h::rll_gpu_references_workspace_bytes_f32,
            h::rll_gpu_references_workspace_bytes_f64,
        ];
        let _: [RefBytes<R>; 2] = [
            r::rll_gpu_references_workspace_bytes_f32,
            r::rll_gpu_references_workspace_bytes_f64,
        ];
        type Masses<P, T> = unsafe extern "C" fn(*const P, *const T, *const T, i64, i64, i64, i64, *mut f64) -> i32;
        let _: (Masses<P, f32>, Masses<P, f64>) = (h::rll_query_ln_mass_f32, h::rll_query_ln_mass_f64);
        let _: (Masses<R, f32>, Masses<R, f64>) = (r::rll_query_ln_mass_f32, r::rll_query_ln_mass_f64);
        same_type(
            h::rll_params_default as unsafe extern "C" fn(*mut P),
            h::rll_params_default,
        );
        same_type(
            r::rll_params_default as unsafe extern "C" fn(*mut R),
            r::rll_params_default,
        );
        same_type(
            h::rll_last_error as unsafe extern "C" fn() -> *const std::ffi::c_char,
            h::rll_last_error,
        );
        same_type(
            r::rll_last_error as extern "C" fn() -> *const std::ffi::c_char,
            r::rll_last_error,
        );
        same_type(
            h::rll_set_num_threads as unsafe extern "C" fn(i32) -> i32,
            h::rll_set_num_threads,
        );
        same_type(
            r::rll_set_num_threads as extern "C" fn(i32) -> i32,
            r::rll_set_num_threads,
        );
    }

    /// The symbols the header declares resolve to the library's: calling through the bindgen declarations works.
    #[test]
    fn header_declarations_link_to_the_library() {
        unsafe {
            let mut p: h::rll_params = std::mem::zeroed();
            h::rll_params_default(&mut p);
            assert_eq!(p.margin, 0.4f32);
            assert_eq!(p.alpha, 1.2f32);
            let x = [0.0f32, 0.0, 1.0, 0.0];
            let y = [0.0f32, 1.0];
            let mut loss = -1.0f32;
            let rc = h::rll_loss_f32(&p, x.as_ptr(), y.as_ptr(), 2, 2, 1.0, &mut loss, std::ptr::null_mut());
            assert_eq!(rc, 0);
            // Two samples of different classes at distance 1 < alpha = 1.2: L_N = 0.2 for each, L = 0.2.
            assert!((loss - 0.2).abs() < 1e-6, "{loss}");
        }
    }
}
