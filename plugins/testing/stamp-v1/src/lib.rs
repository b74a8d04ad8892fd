//! Test-only: version 1 of the `stamp` trait (see `../stamp.rs`).

const STAMP: &str = "1.0.0";

include!("../../stamp.rs");
