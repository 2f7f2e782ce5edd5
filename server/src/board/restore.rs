//! Returning the board to a past point, as ordinary edits checked against the limits.

use commonboard_protocol::app::ServerMessage;
use commonboard_protocol::history::{Change, ChangeKind, RestoreResult};
use tokio::sync::oneshot;
use tracing::{error, info};
use yrs::StateVector;

use crate::doc::{apply_trusted, rebuild, sync_reply};
use crate::store::{Author, StoreError};

use super::edits::Reload;
use super::fanout::Outgoing;
use super::Board;

impl Board {
    /// Makes the live document equal to a past state with ordinary edits, logged under
    /// the facilitator who asked and relayed to everyone like any update.
    pub(super) fn restore(
        &mut self,
        to_seq: u64,
        state: &[u8],
        by: Author,
        reply: oneshot::Sender<Result<RestoreResult, StoreError>>,
        out: &mut Outgoing,
    ) {
        // The edits are worked out on a copy of the live document, so that their size is
        // known before anything is written: a restore is checked against the limits like
        // a client's change (a restore of a big board usually writes little; one that
        // brings back much may not fit). The copy costs an encode and a load of the
        // board, on this rare path.
        let past = rebuild(None, &[state]);
        let copy = rebuild(None, &[&sync_reply(&self.doc, &StateVector::default())]);
        let update = crate::history::reconcile::reconcile(&copy, &past);
        drop((past, copy));
        if update.is_empty() {
            let _ = reply.send(Ok(RestoreResult { restored_to: to_seq, seq: self.seq, changed: false }));
            return;
        }
        if let Err(reason) = self.server_write_fits("the restore", update.len(), update.len()) {
            let _ = reply.send(Err(StoreError::Refused { board: self.id.clone(), reason }));
            return;
        }
        if apply_trusted(&self.doc, &update).is_err() {
            error!(to_seq, "yrs panicked applying a restore; rebuilding the board from the store");
            self.reload_due = Some(Reload::Discard);
            let reason = "the restore could not be applied; nothing was changed".to_owned();
            let _ = reply.send(Err(StoreError::Refused { board: self.id.clone(), reason }));
            return;
        }
        self.seq += 1;
        self.doc_bytes = self.doc_bytes.saturating_add(update.len());
        info!(to_seq, seq = self.seq, by = %by.name, "board restored");
        let change =
            Change { kind: ChangeKind::Restored, id: None, fields: Vec::new(), label: None, to_seq: Some(to_seq) };
        out.writes.push(self.event(&by, change));
        out.app.push(ServerMessage::Restored { to_seq, seq: self.seq, by: by.name.clone() });
        self.log(out, by, update);
        out.restores.push((reply, RestoreResult { restored_to: to_seq, seq: self.seq, changed: true }));
    }
}
