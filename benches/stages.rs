//! Criterion benches of each compiler stage on its own, so a regression shows
//! up where it happens: `load` (files → spec), `resolve` (every check and
//! default → model), `lower` (model → typed objects), `emit` (typed objects →
//! YAML text); then `compile` (resolve + lower + emit, keeping the objects),
//! `render` (the same, each object written out and dropped: what `orchctl
//! render` runs), `write` and `drift`.
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
    // What `orchctl render` runs: each object lowered, written out and dropped.
    group.bench_function("render", |b| {
        b.iter(|| orchctl::render(black_box(&loaded)));
    });
    // Writing: into a new directory each time. Nothing is deleted while this
    // is timed: on ext4 without a journal, files created soon after others
    // were deleted are much slower to create (see bench/README.md).
    let scratch = tempfile::tempdir().unwrap();
    let tree = orchctl::emit::emit(&objects);
    let mut next = 0u64;
    group.bench_function("write", |b| {
        b.iter_batched(
            || {
                next += 1;
                scratch.path().join(format!("generated-{next}"))
            },
            |out| orchctl::write::write_tree(black_box(&tree), &out, "generated/"),
            BatchSize::PerIteration,
        );
    });
    // Checking: read the up-to-date tree back and compare (`render --check`).
    let out = scratch.path().join("checked");
    orchctl::write::write_tree(&tree, &out, "generated/").unwrap();
    group.bench_function("drift", |b| {
        b.iter(|| {
            let disk = orchctl::drift::read_dir(black_box(&out)).unwrap();
            orchctl::drift::compare(&tree, &disk, "generated/")
        });
    });
    group.finish();
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
