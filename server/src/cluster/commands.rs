//! The board commands the owner decides, as other nodes ask for them: each is mapped
//! here once to its wire form ([`Command`]) and back, so that a replica forwards them
//! all alike and the owner's bridge hands them all alike to the one board actor, which
//! alone decides. A new `BoardCmd` gets its place in [`to_owner`] (asked of the owner,
//! or served by the replica itself), and, when asked, its arm in [`on_owner`].

use tokio::sync::{mpsc, oneshot};

use super::wire::{Answer, Command, Failure};
use crate::board::BoardCmd;
use crate::store::{self, StoreError};

/// Why a command asked of the owner got no answer from its actor.
const STOPPED: &str = "the board stopped; try again in a moment";

/// Where the owner's answer to a forwarded command goes on the asking node.
pub(crate) type Answered = Box<dyn FnOnce(Result<Answer, StoreError>) + Send>;

/// `cmd` as a replica asks it of the board's owner, with where the answer goes; `None`
/// for a command the replica serves itself (it has the connections, the document of
/// committed updates, and the board's own admission check).
pub(crate) fn to_owner(cmd: BoardCmd) -> Option<(Command, Answered)> {
    match cmd {
        BoardCmd::RemovePerson { person, by, reply } => Some((
            Command::RemovePerson { person, by: by.into() },
            answered(reply, |answer| match answer {
                Answer::Removed { closed } => Ok(closed),
                other => Err(other),
            }),
        )),
        BoardCmd::RotateLinks { step, reply } => Some((
            Command::RotateLinks { step },
            answered(reply, |answer| match answer {
                Answer::Rotated { generation } => Ok(generation),
                other => Err(other),
            }),
        )),
        // The owner rebuilds the past point from the store itself.
        BoardCmd::Restore { to_seq, by, reply, .. } => Some((
            Command::Restore { to_seq, by: by.into() },
            answered(reply, |answer| match answer {
                Answer::Restored { result } => Ok(result),
                other => Err(other),
            }),
        )),
        BoardCmd::Join { .. }
        | BoardCmd::Messages { .. }
        | BoardCmd::Leave { .. }
        | BoardCmd::LinksRotated { .. }
        | BoardCmd::Unload { .. } => None,
    }
}

/// Hands a command another node asked to board `id`'s actor, like a local one; its
/// answer goes back to the asking node.
pub(crate) async fn on_owner(
    command: Command,
    id: &str,
    store: &store::Handle,
    tx: &mpsc::Sender<BoardCmd>,
) -> Result<Answer, Failure> {
    match command {
        Command::RemovePerson { person, by } => {
            let by = by.into();
            ask(tx, |reply| BoardCmd::RemovePerson { person, by, reply }).await.map(|closed| Answer::Removed { closed })
        }
        Command::RotateLinks { step } => ask(tx, |reply| BoardCmd::RotateLinks { step, reply })
            .await
            .map(|generation| Answer::Rotated { generation }),
        Command::Restore { to_seq, by } => {
            let by = by.into();
            let board = id.to_owned();
            let past = store
                .blocking(move |store| {
                    crate::history::board_at(store, &board, to_seq)
                        .map(|past| (past.seq, crate::doc::sync_reply(&past.doc, &yrs::StateVector::default())))
                })
                .await;
            match past {
                Ok((to_seq, state)) => ask(tx, |reply| BoardCmd::Restore { to_seq, state, by, reply })
                    .await
                    .map(|result| Answer::Restored { result }),
                Err(crate::history::HistoryError::Store(error)) => Err(Failure::from_store(&error)),
                // The asking node resolved the point before asking.
                Err(error) => Err(Failure::failed(error.to_string())),
            }
        }
    }
}

/// Answers `reply` with what `take` finds in the owner's answer.
fn answered<T: Send + 'static>(
    reply: oneshot::Sender<Result<T, StoreError>>,
    take: fn(Answer) -> Result<T, Answer>,
) -> Answered {
    Box::new(move |result| {
        let _ = reply.send(result.and_then(|answer| take(answer).map_err(|other| mismatched(&other))));
    })
}

/// Hands a command to the actor and waits for its answer.
pub(crate) async fn ask<T>(
    tx: &mpsc::Sender<BoardCmd>,
    command: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> BoardCmd,
) -> Result<T, Failure> {
    let (reply, answer) = oneshot::channel();
    if tx.send(command(reply)).await.is_err() {
        return Err(Failure::failed(STOPPED));
    }
    match answer.await {
        Ok(result) => result.map_err(|error| Failure::from_store(&error)),
        Err(_) => Err(Failure::failed(STOPPED)),
    }
}

/// A request answered with the wrong kind of answer (a bug, or nodes of two versions).
pub(crate) fn mismatched(answer: &Answer) -> StoreError {
    StoreError::Unusable(format!("the board's owner answered another request ({answer:?})"))
}
