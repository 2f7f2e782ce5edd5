//! One client's first sync and first edit on a board, as `replay`'s restart section
//! times them (connect, empty sync step 1, the whole board, then one new note, until
//! it comes back relayed): `cargo run --release -p commonboard-load-tests --example
//! first_edit -- ws://127.0.0.1:PORT/ws/BOARD BOARD`. Prints `first_sync_ms first_edit_ms`.
//! For timing server changes between restarts on one data directory, without building
//! a long history each time.

use std::time::{Duration, Instant};

use anyhow::Context;
use commonboard_load_tests::peer;
use commonboard_load_tests::wire::{self, Flavor, Msg, Wire};
use commonboard_protocol::schema::{Board, Note};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::updates::decoder::Decode;
use yrs::{Doc, StateVector, Transact, Update};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().context("a WebSocket URL")?;
    let board = args.next().context("a board id")?;
    let wire = Wire::new(Flavor::YWebsocket, &board);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let mut socket = peer::connect(&url).await?;
    socket.send(WsMessage::Binary(wire.step1(&StateVector::default()).into())).await?;
    let editor = Doc::new();
    let editor_board = Board::new(&editor);
    let client = editor.client_id();
    let mut synced = None;
    loop {
        let message =
            tokio::time::timeout_at(deadline.into(), socket.next()).await.context("timed out")?.context("closed")??;
        let WsMessage::Binary(frame) = message else { continue };
        let (mut step2, mut echoed) = (false, false);
        wire::messages(Flavor::YWebsocket, &frame, |m| match m {
            Msg::SyncStep2(_) => step2 = true,
            Msg::Update(update) => {
                echoed |= Update::decode_v1(update).is_ok_and(|u| u.state_vector().get(&client) > 0);
            }
            _ => {}
        })?;
        if step2 && synced.is_none() {
            synced = Some(started.elapsed());
            let note = Note {
                id: format!("restart-edit-{}", client.get()),
                text: "first edit after the restart".into(),
                w: 160.0,
                h: 120.0,
                color: "yellow".into(),
                author: "replay".into(),
                created_at: 1.0,
                ..Default::default()
            };
            let edit = {
                let mut txn = editor.transact_mut();
                editor_board.insert_note(&mut txn, &note);
                txn.encode_update_v1()
            };
            socket.send(WsMessage::Binary(wire.update(edit).into())).await?;
        }
        if echoed {
            let edited = started.elapsed();
            let sync = synced.context("an edit came back before the board")?;
            println!("{:.1} {:.1}", sync.as_secs_f64() * 1000.0, edited.as_secs_f64() * 1000.0);
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
            return Ok(());
        }
    }
}
