//! Link the `orchctl` executable at a fixed address on Linux (non-PIE).
//!
//! orchctl is started once per pre-commit hook and CI step and runs for a few
//! milliseconds, so start-up is a large share of its time. A position-
//! independent executable is relocated by the dynamic loader at every start:
//! about 12,400 relocations, each page they patch copied on write (56 page
//! faults, a sixth of a reference render's). Linked at a fixed address,
//! the executable needs none of that (Go's toolchain links Linux executables
//! this way by default).
//!
//! The cost: the executable's own code is not placed at a random address, a
//! defence that matters most for long-running services fed untrusted input,
//! less for a short-lived tool reading files of its own repository. Where a
//! policy requires position-independent executables, build with
//! `ORCHCTL_PIE=1` to keep the toolchain's default.
//!
//! Only the binary changes: the library, tests and proc-macro crates build as
//! before, and other platforms keep their toolchain's default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ORCHCTL_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let pie = std::env::var_os("ORCHCTL_PIE").is_some_and(|v| v != "0" && !v.is_empty());
    if linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
