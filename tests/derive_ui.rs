//! Compile-fail and pass cases for the derive. The expected compiler output
//! (`tests/ui/**/*.stderr`) is pinned to the toolchain in rust-toolchain
//! terms below; on another toolchain the cases are skipped, since rustc's
//! wording changes between releases. Regenerate with `TRYBUILD=overwrite`.

#[test]
#[rustversion::attr(not(stable(1.95)), ignore = "UI output is pinned to rustc 1.95")]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/key/*.rs");
    t.compile_fail("tests/ui/attr/*.rs");
    t.compile_fail("tests/ui/types/*.rs");
    t.compile_fail("tests/ui/shape/*.rs");
    t.compile_fail("tests/ui/paths/*.rs");
    t.compile_fail("tests/ui/reads/*.rs");
}
