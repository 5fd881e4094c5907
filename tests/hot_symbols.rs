//! `linker/hot-symbols.txt`, which build.rs hands to the linker to place the
//! functions a render runs side by side, is a list the linker can use: one
//! symbol per line, comments only at the top, no name twice, and taken from a
//! profile that ran a render (the entry point, the YAML writer and the file
//! writer are in it). A list left empty or cut short by a failed
//! `bench/hot_symbols.py` would still build, only slower; this catches it.

use std::collections::HashSet;

#[test]
fn hot_symbols_list_is_usable_by_the_linker() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/linker/hot-symbols.txt");
    let text = std::fs::read_to_string(path).expect("linker/hot-symbols.txt");
    let mut lines = text.lines().peekable();
    let mut header = 0;
    while lines.next_if(|line| line.starts_with('#')).is_some() {
        header += 1;
    }
    assert!(
        header > 0,
        "the list starts with a comment saying how it was made"
    );
    let names: Vec<&str> = lines.collect();
    assert!(
        names.len() > 500,
        "only {} names: a render runs about a thousand functions",
        names.len()
    );
    let mut seen = HashSet::new();
    for (i, name) in names.iter().enumerate() {
        let line = header + i + 1;
        assert!(
            !name.starts_with('#'),
            "line {line}: comments belong at the top"
        );
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "line {line}: {name:?} is not a symbol name"
        );
        assert!(seen.insert(name), "line {line}: {name} is listed twice");
    }
    for part in ["7orchctl4main", "7orchctl4emit", "7orchctl5write"] {
        assert!(
            names.iter().any(|name| name.contains(part)),
            "no function of `{part}` listed: the profile did not run a render"
        );
    }
}
