//! Criterion benches of each compiler stage on its own, so a regression shows
//! up where it happens: `load` (files → spec), `resolve` (every check and
//! default → model), `lower` (model → typed objects), `emit` (typed objects →
//! YAML text); then `compile` (resolve + lower + emit, keeping the objects),
//! `render` (what `orchctl render` runs after loading, into an empty
//! directory: each file written as soon as it is made), `check` (what
//! `orchctl render --check` runs after loading, on an up-to-date tree: each
//! file compared with the one on disk as soon as it is made), `write` (a
//! whole tree) and `drift` (read a tree back and compare).
//!
//! Two inputs: the reference platform (`pipelines/`) and a generated spec of
//! `ORCHCTL_BENCH_N` projects (default 1000), the same content as
//! `bench/gen_spec.py` writes for the Hera comparison (`bench/spec_gen.rs`).
//!
//! ```sh
//! cargo bench --bench stages                 # all
//! cargo bench --bench stages -- reference    # only the reference platform
//! ```

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "../bench/spec_gen.rs"]
mod spec_gen;

fn bench_input(c: &mut Criterion, label: &str, pipelines: &Path) {
    let (loaded, diags) = orchctl::load::load_dir(pipelines);
    assert!(!diags.has_errors(), "{label}: the spec does not load");
    let (model, diags) = orchctl::model::resolve(&loaded);
    assert!(!diags.has_errors(), "{label}: the spec does not resolve");
    let model = model.expect("a model");
    let objects = orchctl::lower::lower(&model);
    let bytes: usize = orchctl::emit::emit(&objects)
        .values()
        .map(String::len)
        .sum();

    let mut group = c.benchmark_group(label);
    if label != "reference" {
        group.sample_size(20);
    }
    group.bench_function("load", |b| {
        b.iter(|| orchctl::load::load_dir(black_box(pipelines)));
    });
    group.bench_function("resolve", |b| {
        b.iter(|| orchctl::model::resolve(black_box(&loaded)));
    });
    group.bench_function("lower", |b| {
        b.iter(|| orchctl::lower::lower(black_box(&model)));
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("emit", |b| {
        b.iter(|| orchctl::emit::emit(black_box(&objects)));
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("compile", |b| {
        b.iter(|| orchctl::compile(black_box(&loaded)));
    });
    let scratch = scratch_dir();
    let tree = orchctl::emit::emit(&objects);
    let mut next = 0u64;
    // What `orchctl render` runs after loading, into an empty directory:
    // each file staged as soon as it is made, then renamed into place. Into
    // a new directory each time (in a parent of its own, as in a checkout,
    // where the staging directory is made); nothing is deleted while this is
    // timed (on ext4 without a journal, files created soon after others were
    // deleted are much slower to create; see bench/README.md).
    group.bench_function("render", |b| {
        b.iter_batched(
            || {
                next += 1;
                scratch.path().join(format!("{next}/generated"))
            },
            |out| {
                let stage = orchctl::write::Stage::fresh(&out).unwrap().unwrap();
                let staged = orchctl::render_staged(black_box(&loaded), &stage).unwrap();
                stage.finish().unwrap();
                staged
            },
            BatchSize::PerIteration,
        );
    });
    // What `orchctl render --check` runs after loading, on an up-to-date
    // tree: each file compared with the one on disk as soon as it is made.
    let out = scratch.path().join("checked");
    orchctl::write::write_tree(&tree, &out, "generated/").unwrap();
    group.bench_function("check", |b| {
        b.iter(|| {
            let unchanged = |path: &str, text: &str| orchctl::drift::holds(&out, path, text);
            let checked =
                orchctl::render_against(black_box(&loaded), &unchanged, orchctl::Keep::Changed)
                    .unwrap();
            assert!(checked.all_unchanged());
            assert!(!orchctl::drift::holds_others(&out, &checked.paths()));
            checked
        });
    });
    // Writing a whole tree into a new directory (`render` over a tree that
    // changed stages this way).
    group.bench_function("write", |b| {
        b.iter_batched(
            || {
                next += 1;
                scratch.path().join(format!("{next}/generated"))
            },
            |out| orchctl::write::write_tree(black_box(&tree), &out, "generated/"),
            BatchSize::PerIteration,
        );
    });
    // Reading the whole tree back and comparing (`render --check` when
    // something differs).
    group.bench_function("drift", |b| {
        b.iter(|| {
            let disk = orchctl::drift::read_dir(black_box(&out)).unwrap();
            orchctl::drift::compare(&tree, &disk, "generated/")
        });
    });
    group.finish();
}

/// Where the benches that write files write them: tmpfs when there is one
/// (`/dev/shm`), so they time orchctl rather than the disk, as
/// `bench/compare.py --out /dev/shm/…` does.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn stages(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    bench_input(c, "reference", &root.join("pipelines"));
    let n: usize = std::env::var("ORCHCTL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let scratch = tempfile::tempdir().unwrap();
    spec_gen::generate(n, scratch.path(), 0);
    bench_input(c, &format!("projects-{n}"), scratch.path());
}

criterion_group!(benches, stages);
criterion_main!(benches);
