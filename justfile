# Convenience recipes; each is one plain cargo command underneath.

# Render the reference pipeline into generated/
render:
    cargo run --release -- render

# Fail if generated/ or schemas/ are stale
check:
    cargo run --release -- render --check
    cargo run --release -- schema --check

# Run the whole test suite
test:
    cargo test

# Regenerate the spec's JSON Schema into schemas/
schema:
    cargo run --release -- schema

# Review changed insta snapshots
review-snapshots:
    cargo insta test --unreferenced reject --review

# Run the benchmarks: orchctl against Hera (bench/compare.py), then each stage (Criterion)
bench:
    python3 bench/compare.py
    cargo bench --bench stages

# Everything CI runs
ci:
    bash .ci/run

# Regenerate linker/hot-symbols.txt, the functions the linker places together (needs valgrind)
hot-symbols:
    python3 bench/hot_symbols.py
