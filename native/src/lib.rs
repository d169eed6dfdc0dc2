//! The static and shared libraries of `ranked-list-loss` for C and C++ hosts: the `rll_*` functions of
//! `cpp/include/ranked_list_loss.h` (its `capi` module) and the cxx bridge the Caffe layers call (its `bridge`
//! module), with everything they use. No code of its own: the re-export keeps the crate linked in whole.
//! `native/` builds it as `libranked_list_loss.{a,so}`, `native-cuda/` (the crate's cuda feature) as
//! `libranked_list_loss_cuda.{a,so}`.
pub use rll::*;
