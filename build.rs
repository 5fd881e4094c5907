//! How the `orchctl` executable is linked.
//!
//! orchctl is started once per pre-commit hook and CI step and runs for a few
//! milliseconds, so start-up is a large share of its time.
//!
//! First, at a fixed address. On x86-64 Linux with glibc, `.cargo/config.toml`
//! links glibc into the executable (`+crt-static`; this needs glibc's static
//! library, `libc.a`, which Debian and Ubuntu ship in libc6-dev and Fedora and
//! RHEL in glibc-static: this script warns when an empty program does not
//! link) and the whole at a fixed address (`relocation-model=static`): the
//! dynamic loader has nothing left to do. Where that configuration is not in
//! effect (an install from a registry, RUSTFLAGS set, another platform) and
//! glibc is linked dynamically, this script passes `-no-pie` to the
//! executables. A position-independent executable is relocated at every
//! start: about 12,400 relocations, each page they patch copied on write (56
//! page faults, a sixth of a reference render's). Linked at a fixed address,
//! the executable needs none of that (Go's toolchain links Linux executables
//! this way by default).
//!
//! The cost: the executable's own code, and with `+crt-static` glibc's too, is
//! not placed at a random address (the stack, the heap and other mappings
//! still are). That is a second line of defence against memory-safety bugs,
//! and orchctl does read input it did not write (pull requests' specs in CI,
//! webhook payloads for `route`, backlogs for `play`); it is written in Rust,
//! with `unsafe` only around a few system calls, and its loader is fuzzed.
//! Distributions that require position-independent executables (Debian's and
//! Fedora's hardening policies), or anyone who prefers them, build with
//! `RUSTFLAGS="-C target-feature=+crt-static"` (static, position-independent)
//! or with `ORCHCTL_PIE=1 RUSTFLAGS="-C target-feature=-crt-static"`
//! (glibc linked dynamically). `ORCHCTL_PIE=1` with the configuration's fixed
//! address is refused rather than ignored.
//!
//! The `-no-pie` of a dynamically linked build goes to executables only
//! (`orchctl` and the unit tests of `main.rs`); with the configuration in
//! effect every crate and test of the package is built for a fixed address
//! and linked statically, while build scripts and proc-macro crates build as
//! before. Static position-independent builds keep their static-pie, which
//! `-no-pie` would turn into a binary that crashes at start, and other
//! platforms keep their toolchain's default. A test checks that the
//! executable is linked as this script expects (`ORCHCTL_EXPECT_LINK`).
//!
//! Second, the functions a render runs are laid out side by side. A reference
//! render runs about 930 of the executable's 10,500 functions (glibc's
//! included, when it is linked in), spread over 8.7 MB of machine code; each
//! page of code it touches first is a page fault (which maps the 64 KiB
//! around it). `linker/hot-symbols.txt` lists them, as valgrind recorded them
//! running (`bench/hot_symbols.py`), and the linker places them first
//! (`--symbol-ordering-file`, which LLD understands: Rust's default linker on
//! x86-64 Linux since 1.90). Measured head to head on the dynamically linked
//! build, 200 rounds in rotation on the disk and 200 on tmpfs: a reference
//! render 8% faster, `render --check` 9 to 10%, a bare `--version` 6%; 359
//! page faults per `--check` become 326. The output is the same; a name the
//! linker does not find (renamed, or another compiler version, or another
//! way of linking: the list is made for `.cargo/config.toml`'s) only loses
//! its place. The linker in use is asked first, with a link of an empty
//! program; one that does not know the option gets nothing, and the build
//! goes on as before.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ORCHCTL_PIE");
    let cfg = |key: &str| std::env::var(key).unwrap_or_default();
    let linux_gnu = cfg("CARGO_CFG_TARGET_OS") == "linux" && cfg("CARGO_CFG_TARGET_ENV") == "gnu";
    let crt_static = cfg("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    // The last `relocation-model=` wins, as in rustc.
    let fixed_by_flags = cfg("CARGO_ENCODED_RUSTFLAGS")
        .split('\x1f')
        .filter_map(|flag| {
            flag.split_once("relocation-model=")
                .map(|(_, model)| model == "static")
        })
        .next_back()
        .unwrap_or(false);
    let pie = std::env::var_os("ORCHCTL_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if pie && fixed_by_flags {
        panic!(
            "ORCHCTL_PIE asks for a position-independent executable, but the Rust flags link at a \
             fixed address (relocation-model=static, from .cargo/config.toml unless RUSTFLAGS is \
             set). Build with RUSTFLAGS=\"-C target-feature=+crt-static\" (glibc linked in) or \
             ORCHCTL_PIE=1 RUSTFLAGS=\"-C target-feature=-crt-static\" (glibc linked dynamically)."
        );
    }
    let dynamic_glibc = linux_gnu && !crt_static;
    if dynamic_glibc && !pie {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
    // What tests/cli.rs finds in the executable's ELF header.
    let expect = match (linux_gnu, crt_static) {
        (true, false) if pie => "dynamic-pie",
        (true, false) => "dynamic-fixed",
        (true, true) if fixed_by_flags => "static-fixed",
        (true, true) => "static-pie",
        (false, _) => "platform-default",
    };
    println!("cargo::rustc-env=ORCHCTL_EXPECT_LINK={expect}");
    let ordered = order_functions();
    // A probe that linked with the ordering file has shown that static glibc
    // links; only otherwise is an empty program linked to find out.
    if linux_gnu && crt_static && !ordered && !links(&[]) {
        println!(
            "cargo::warning=linking glibc into the executable (+crt-static, from \
             .cargo/config.toml or RUSTFLAGS) needs glibc's static library, libc.a, and an empty \
             program did not link: install it (glibc-static on Fedora and RHEL; Debian and Ubuntu ship it in \
             libc6-dev), or build with RUSTFLAGS=\"-C target-feature=-crt-static\""
        );
    }
}

/// Has the linker place the functions listed in `linker/hot-symbols.txt`
/// first, if it takes `--symbol-ordering-file`; whether it does.
fn order_functions() -> bool {
    let file = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("linker")
        .join("hot-symbols.txt");
    println!("cargo::rerun-if-changed={}", file.display());
    // `-Xlinker` passes each option whole (`-Wl,` would split a path at its
    // commas).
    let args = [
        "-Xlinker".to_string(),
        format!("--symbol-ordering-file={}", file.display()),
        "-Xlinker".to_string(),
        "--no-warn-symbol-ordering".to_string(),
    ];
    let ordered = file.is_file() && links(&args);
    if ordered {
        for arg in args {
            println!("cargo::rustc-link-arg-bins={arg}");
        }
    }
    ordered
}

/// Whether the linker this build uses links an empty program with the link
/// arguments `args`: rustc run as cargo runs it, for the same target, with the
/// same flags and linker.
fn links(args: &[String]) -> bool {
    let var = |key: &str| std::env::var_os(key);
    let out = PathBuf::from(var("OUT_DIR").expect("set by cargo")).join("link-probe");
    let _ = std::fs::remove_dir_all(&out);
    let source = out.join("probe.rs");
    if std::fs::create_dir_all(&out).is_err() || std::fs::write(&source, "fn main() {}\n").is_err()
    {
        return false;
    }
    let mut rustc = Command::new(var("RUSTC").unwrap_or_else(|| "rustc".into()));
    if let Some(target) = var("TARGET") {
        rustc.arg("--target").arg(target);
    }
    if let Some(encoded) = std::env::var("CARGO_ENCODED_RUSTFLAGS")
        .ok()
        .filter(|f| !f.is_empty())
    {
        rustc.args(encoded.split('\x1f'));
    }
    if let Some(linker) = var("RUSTC_LINKER") {
        rustc
            .arg("-C")
            .arg(format!("linker={}", linker.to_string_lossy()));
    }
    for arg in args {
        rustc.arg("-C").arg(format!("link-arg={arg}"));
    }
    let accepted = rustc
        .arg("--crate-name=orchctl_link_probe")
        .arg("-o")
        .arg(out.join("orchctl-link-probe"))
        .arg(&source)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    // A failed link leaves its object files behind.
    let _ = std::fs::remove_dir_all(&out);
    accepted
}
