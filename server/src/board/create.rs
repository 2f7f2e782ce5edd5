//! Creating a board: the one an `--open` server makes for its first connection.

use crate::store::{self, StoreError, StoredBoard};

use super::error::BoardError;

/// Creates a board named by its first connection (`--open` mode).
pub(crate) async fn create_open_board(id: &str, store: &store::Handle) -> Result<StoredBoard, BoardError> {
    let blank = crate::templates::get("blank").expect("the blank template is built in");
    let new = crate::registry::new_board(id.to_owned(), id.to_owned(), blank);
    let written = vec![(new.entry.author.id.clone(), new.entry.update.len() as u64)];
    match store::committed(store.submit(new.writes())).await {
        Ok(()) => Ok(StoredBoard {
            record: new.record,
            checkpoint: None,
            tail: vec![new.entry],
            votes: Vec::new(),
            workshop: None,
            private_notes: Vec::new(),
            written,
        }),
        // Created meanwhile by another node or request: load what is there.
        Err(StoreError::BoardExists(_)) => store.load(id).await?.ok_or(BoardError::NotFound),
        Err(error) => Err(error.into()),
    }
}
