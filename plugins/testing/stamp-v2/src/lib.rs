//! Test-only: version 2 of the `stamp` trait (see `../stamp.rs`).

const STAMP: &str = "2.0.0";

include!("../../stamp.rs");
