//! The checked-in TypeScript bindings match the Rust definitions.

use commonboard_protocol::typescript::{bindings, BINDINGS_PATH};

#[test]
fn typescript_bindings_are_fresh() {
    let path = crate::repo_root().join(BINDINGS_PATH);
    let expected = bindings();
    if crate::updating("UPDATE_BINDINGS") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{BINDINGS_PATH} is stale; run `UPDATE_BINDINGS=1 cargo test -p commonboard-protocol` and commit it"
    );
}
