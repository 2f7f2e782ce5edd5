//! Structural rules of the workspace that ARCHITECTURE.md states, checked on every test run.
//!
//! - Every Rust source file opens with a `//!` line saying what it is for.
//! - The `protocol` crate does no IO: none of the runtime, network, database or
//!   filesystem crates among its dependencies, and no `std::net`, `std::fs` or
//!   `std::process` (nor `std::env`, `std::io`) in its code.
//! - Panics are caught in two places only: yrs calls on bytes from outside in
//!   `protocol::frame::contain_yrs`, the board's apply in `server::doc::contain_panic`.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `server/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("server/ has a parent").to_owned()
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The folders of hand-written Rust code.
const SOURCE_DIRS: &[&str] = &[
    "protocol/src",
    "protocol/tests",
    "server/src",
    "server/tests",
    "server/benches",
    "load-tests/src",
    "fuzz/src",
    "fuzz/fuzz_targets",
];

#[test]
fn every_source_file_says_what_it_is_for() {
    let root = root();
    let mut missing = Vec::new();
    for dir in SOURCE_DIRS.iter().map(|d| root.join(d)).filter(|d| d.is_dir()) {
        for file in sources(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            if !text.trim_start().starts_with("//!") {
                missing.push(file.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "these files do not open with a `//!` line saying what they are for: {missing:#?}");
}

/// Crates whose presence would mean IO in `protocol`.
const IO_CRATES: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "reqwest",
    "tungstenite",
    "tokio-tungstenite",
    "dashmap",
    "rusqlite",
    "postgres",
    "async-nats",
    "mio",
];

#[test]
fn the_protocol_crate_does_no_io() {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("protocol/Cargo.toml")).unwrap();
    let mut section = "";
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section != "[dependencies]" {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("");
        assert!(!IO_CRATES.contains(&name), "protocol depends on `{name}`: the wire format must stay free of IO");
    }
    for file in sources(&root.join("protocol/src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for forbidden in ["std::net", "std::fs", "std::process", "std::env", "std::io", "tokio::"] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}: the protocol crate does no IO",
                file.strip_prefix(&root).unwrap().display()
            );
        }
    }
}

/// The only files of the server and protocol crates that may call `catch_unwind`.
const PANIC_NETS: &[&str] = &["protocol/src/frame.rs", "server/src/doc.rs"];

#[test]
fn panics_are_caught_in_two_places_only() {
    let root = root();
    let mut found = Vec::new();
    for dir in ["protocol/src", "server/src"] {
        for file in sources(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.lines().any(|l| l.contains("catch_unwind(") && !l.trim_start().starts_with("//")) {
                found.push(file.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert_eq!(
        found, PANIC_NETS,
        "catch_unwind belongs in protocol::frame::contain_yrs or server::doc::contain_panic; call one of those"
    );
}
