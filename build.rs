//! Link the `orchctl` executable at a fixed address on Linux with glibc
//! (non-PIE).
//!
//! orchctl is started once per pre-commit hook and CI step and runs for a few
//! milliseconds, so start-up is a large share of its time. A position-
//! independent executable is relocated by the dynamic loader at every start:
//! about 12,400 relocations, each page they patch copied on write (56 page
//! faults, a sixth of a reference render's). Linked at a fixed address,
//! the executable needs none of that (Go's toolchain links Linux executables
//! this way by default).
//!
//! The cost: the executable's own code is not placed at a random address.
//! That is a second line of defence against memory-safety bugs, and orchctl
//! does read input it did not write (pull requests' specs in CI, webhook
//! payloads for `route`, backlogs for `play`); it is written in Rust, with
//! `unsafe` only around two system calls, and its loader is fuzzed. Distributions that
//! require position-independent executables (Debian's and Fedora's hardening
//! policies), or anyone who prefers them, build with `ORCHCTL_PIE=1`.
//!
//! Only executables change (`orchctl` and the unit tests of `main.rs`); the
//! library, the integration tests' own code and proc-macro crates build as
//! before. Static builds (`+crt-static`, musl) keep their static-pie, which
//! `-no-pie` would turn into a binary that crashes at start, and other
//! platforms keep their toolchain's default.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ORCHCTL_PIE");
    let cfg = |key: &str| std::env::var(key).unwrap_or_default();
    let dynamic_glibc = cfg("CARGO_CFG_TARGET_OS") == "linux"
        && cfg("CARGO_CFG_TARGET_ENV") == "gnu"
        && !cfg("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static");
    let pie = std::env::var_os("ORCHCTL_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if dynamic_glibc && !pie {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
