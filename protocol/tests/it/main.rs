//! Integration tests of the protocol crate: golden vectors, TypeScript bindings, round trips.

mod bindings;
mod roundtrip;
mod validate;
mod vectors;

/// Repository root (the protocol crate's parent directory).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether the test should rewrite its checked-in files instead of comparing.
pub fn updating(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}
