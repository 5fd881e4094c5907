//! Arbitrary bytes as a spec file: load → check/resolve → lower → emit must
//! never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (loaded, diags) = orchctl::load::load_str("platform.yaml", text);
    // Diagnostics must render against their sources without panicking.
    for d in &diags.0 {
        let _ = d.render(&loaded.sources, false);
    }
    match orchctl::compile(&loaded) {
        Ok(compiled) => {
            // Whatever compiles must emit text that orchctl reads back.
            for text in compiled.tree.values() {
                assert!(orchctl::emit::is_generated(text));
                let body = text.split_once('\n').map_or("", |(_, b)| b);
                assert!(
                    orchctl::yaml::parse(body, orchctl::source::FileId(0)).is_ok(),
                    "emitted YAML does not parse:\n{body}"
                );
            }
        }
        Err(diags) => {
            for d in &diags.0 {
                let _ = d.render(&loaded.sources, false);
            }
        }
    }
});
