//! Compile-fail cases of `#[derive(Session)]`: each `tests/ui/*.rs` must fail to compile with
//! exactly the errors in the `.stderr` beside it. The messages depend on the compiler version
//! (pinned in rust-toolchain.toml); after a toolchain change, regenerate them with
//! `TRYBUILD=overwrite cargo test --test compiletest` and review every diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

/// The compile errors a teloxide bot meets (feature `teloxide`); quoted in the README.
#[cfg(feature = "teloxide")]
#[test]
fn ui_teloxide() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui-teloxide/*.rs");
}
