//! Structural rules of the workspace that ARCHITECTURE.md states, checked on every test run.
//!
//! - Every Rust source file opens with a `//!` line saying what it is for.
//! - The `protocol` crate does no IO: none of the runtime, network, database or
//!   filesystem crates among its dependencies, and no `std::net`, `std::fs` or
//!   `std::process` (nor `std::env`, `std::io`) in its code.
//! - Panics are caught in two places only: yrs calls on bytes from outside in
//!   `protocol::frame::contain_yrs`, the board's apply in `server::doc::contain_panic`.
//! - yrs write transactions are opened only where documents are made or changed: the
//!   board (`board/`, its live document), the document-level helpers, and the modules
//!   that build documents of their own (see [`WRITES_DOCUMENTS`]).
//! - No hand-written source file of the server is over [`MAX_LINES`] lines.
//! - The board's core holds no store: only the task around it (`board/actor.rs`) and
//!   board creation (`board/create.rs`) reach one.

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

/// The server's code (under `server/src/`) that may open a yrs write transaction
/// (`transact_mut`, `TransactionMut`), each for a reason: the board's task changes its
/// live document, and nothing else touches that one; the others change documents of
/// their own. Connections, the registry, the cluster, the store, webhooks and the HTTP
/// edge never do: they see encoded bytes. A file here ends with `/` for a folder.
const WRITES_DOCUMENTS: &[&str] = &[
    // The live document, in the board's task.
    "board/",
    // Document-level helpers the board (and history, the replica, the fuzzers) call:
    // rebuilding from a checkpoint and log, taking an update in, bounding nesting.
    "doc.rs",
    "intake.rs",
    "nesting.rs",
    // Documents of their own: past points and restores worked out on copies.
    "history.rs",
    "history/",
    // A new board's first document: a template's frames and notes, an imported file.
    "templates.rs",
    "export/file.rs",
];

/// Whether `line` opens or names a yrs write transaction.
fn writes_a_document(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    code.contains("transact_mut") || code.contains("TransactionMut")
}

#[test]
fn only_the_board_and_document_helpers_open_write_transactions() {
    let root = root();
    let src = root.join("server/src");
    let mut found = Vec::new();
    for file in sources(&src) {
        let path = file.strip_prefix(&src).unwrap().display().to_string();
        if path.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests build documents of their own.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let allowed = WRITES_DOCUMENTS.iter().any(|a| if a.ends_with('/') { path.starts_with(a) } else { path == *a });
        if !allowed && code.lines().any(writes_a_document) {
            found.push(path);
        }
    }
    assert!(
        found.is_empty(),
        "these files open yrs write transactions outside the board and the document helpers: {found:#?}; \
         change a board's document through its actor (a BoardCmd), or add the file to WRITES_DOCUMENTS with its reason"
    );
}

/// Most lines a hand-written source file of the server may have: past it, a file holds
/// more than one concern (split it by concern, as `board/` is).
const MAX_LINES: usize = 600;

#[test]
fn no_server_source_file_is_over_the_line_limit() {
    let root = root();
    let mut long = Vec::new();
    for file in sources(&root.join("server/src")) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        if lines > MAX_LINES {
            long.push(format!("{} ({lines} lines)", file.strip_prefix(&root).unwrap().display()));
        }
    }
    assert!(long.is_empty(), "these files are over {MAX_LINES} lines; split them by concern: {long:#?}");
}

/// The files of `server/src/board/` that may reach the store: the task around the core,
/// and creating a board.
const BOARD_STORE_USERS: &[&str] = &["actor.rs", "create.rs"];

/// Whether `line` reaches a store: names its handle or the `Store` trait.
fn reaches_a_store(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    let imports_from_store = code.trim_start().starts_with("use crate::store");
    let names = code.split(|c: char| !c.is_alphanumeric() && c != '_');
    code.contains("store::Handle")
        || code.contains("dyn Store")
        || (imports_from_store && names.clone().any(|w| w == "Handle" || w == "Store"))
}

#[test]
fn the_board_core_holds_no_store() {
    let board = root().join("server/src/board");
    let mut found = Vec::new();
    for file in sources(&board) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if BOARD_STORE_USERS.contains(&name.as_str()) || name == "tests.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        if code.lines().any(reaches_a_store) {
            found.push(name);
        }
    }
    assert!(
        found.is_empty(),
        "these files of board/ reach the store: {found:#?}; the core decides without IO: the actor \
         (board/actor.rs) reads and writes, and hands the core what it read"
    );
}
