//! One client's first sync and first edit on a board, as `replay`'s restart section
//! times them (connect, empty sync step 1, the whole board, then one new note, until
//! it comes back relayed): `cargo run --release -p commonboard-load-tests --example
//! first_edit -- ws://127.0.0.1:PORT/ws/BOARD BOARD`. Prints `first_sync_ms first_edit_ms`.
//! For timing server changes between restarts on one data directory, without building
//! a long history each time.

use anyhow::Context;
use commonboard_load_tests::replay::sync_and_edit;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().context("a WebSocket URL")?;
    let board = args.next().context("a board id")?;
    let (synced, _, edited) = sync_and_edit(&url, &board).await?;
    println!("{:.1} {:.1}", synced.as_secs_f64() * 1000.0, edited.as_secs_f64() * 1000.0);
    Ok(())
}
