//! Links the `vtsql` executable at a fixed address (not position-independent).
//!
//! A position-independent executable of this size carries 181,453 pointers that the loader rewrites at every
//! start, copying the 3 MB of tables that hold them: 3–4 ms of each process, which `vtsql -c`, `-f` and every
//! script pay before their first statement (1,102 page faults for `vtsql --version`, 261 when linked at a
//! fixed address; benches/RESULTS.md, round 14). The stack, heap, shared libraries and mappings are still
//! placed at random; the executable's own code and data are not.
//!
//! Only the binaries of this package are linked so: libraries, tests and the `udfs` crate are untouched.

fn main() {
    // The C compiler that links takes the last of `-pie` (which rustc passes) and `-no-pie`.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
