//! A generated policy shaped like a large multi-tenant cluster, and request sets drawn
//! from it, shared by the benchmarks.
#![forbid(unsafe_code)]

pub mod shape;
