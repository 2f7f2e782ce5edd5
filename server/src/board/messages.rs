//! What a connection's messages do: the Yjs sync and awareness messages, and the application messages with who may send each.

use bytes::Bytes;
use commonboard_protocol::app::{ClientMessage, ErrorCode, Role, ServerMessage, APP_PROTOCOL_VERSION};
use commonboard_protocol::frame::{self, Incoming, Message, SyncMessage};
use commonboard_protocol::history::{Change, ChangeKind};
use commonboard_protocol::workshop::TurnAction;
use tracing::info;
use yrs::Transact;

use crate::outbox::ConnId;
use crate::store::Write;

use super::fanout::Outgoing;
use super::votes::message_vote;
use super::{now_ms, Board};

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

pub(super) fn forbidden(what: &str) -> ServerMessage {
    ServerMessage::Error { code: ErrorCode::Forbidden, message: format!("only the facilitator can {what}") }
}

impl Board {
    pub(super) fn handle(&mut self, conn: ConnId, message: Incoming, out: &mut Outgoing) {
        match message {
            Incoming::Yjs(Message::Sync(SyncMessage::SyncStep1(state_vector))) => {
                if self.may_reply(conn, &mut out.answered_step1) {
                    self.answer_step1(conn, state_vector, out);
                }
            }
            Incoming::Yjs(Message::Sync(message @ (SyncMessage::SyncStep2(_) | SyncMessage::Update(_)))) => {
                let live = matches!(message, SyncMessage::Update(_));
                let (SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) = message else { return };
                if self.may_edit(conn, &update, out) && self.within_limits(conn, &update, out) {
                    self.apply(conn, &update, live, out);
                }
            }
            Incoming::Yjs(Message::Awareness(update)) => {
                let Some(state) = self.conns.get(&conn) else { return };
                // Presence moves between connections of one person only; every person id
                // is the server's (a shared link's connection gets one of its own).
                let person = Some(state.member.author.id.as_str());
                let applied = self.awareness.apply_from(conn, person, update);
                for refused in applied.refused {
                    self.presence_refused(conn, refused, out);
                }
                out.awareness.extend(applied.relay);
            }
            Incoming::Yjs(Message::AwarenessQuery) => {
                if self.may_reply(conn, &mut out.answered_query) {
                    self.answer_presence_query(conn, out);
                }
            }
            Incoming::Yjs(Message::Auth(_) | Message::Custom(..)) => {}
            Incoming::App(message) => self.handle_app(conn, message, out),
        }
    }

    pub(super) fn handle_app(&mut self, conn: ConnId, message: ClientMessage, out: &mut Outgoing) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        let role = state.member.role;
        let author = state.member.author.clone();
        let reply = match message {
            ClientMessage::Hello { version } if version == APP_PROTOCOL_VERSION => {
                state.app = true;
                let token = state.member.needs_personal_token().then(|| self.personal_token(&author.id)).flatten();
                let welcome = ServerMessage::Welcome {
                    version: APP_PROTOCOL_VERSION,
                    connection: conn,
                    role,
                    identity: author.id.clone(),
                    token,
                    name: author.name.clone(),
                    locked: self.locked,
                    server_time_ms: now_ms() as f64,
                };
                out.direct.push((conn, frame::server_app(&welcome).into()));
                if !self.workshop.is_idle() {
                    let workshop = ServerMessage::Workshop { state: self.workshop.view() };
                    out.direct.push((conn, frame::server_app(&workshop).into()));
                }
                if let Some((viewport, by)) = &self.viewport {
                    let message = ServerMessage::Viewport { viewport: *viewport, bring: false, by: Some(by.clone()) };
                    out.direct.push((conn, frame::server_app(&message).into()));
                }
                let mine = self.workshop.notes_of(&author.id);
                if !mine.is_empty() {
                    out.direct.push((conn, frame::server_app(&ServerMessage::PrivateNotes { notes: mine }).into()));
                }
                for vote in &self.votes {
                    let view = if role == Role::Facilitator { self.facilitator_view(vote) } else { vote.view(false) };
                    let view = ServerMessage::Vote { vote: view };
                    out.direct.push((conn, frame::server_app(&view).into()));
                    let (mine, remaining) = vote.ballot(&author.id);
                    let ballot = ServerMessage::Ballot { vote: vote.id.clone(), mine, remaining };
                    out.direct.push((conn, frame::server_app(&ballot).into()));
                }
                None
            }
            ClientMessage::Hello { version } => Some(ServerMessage::Error {
                code: ErrorCode::UnsupportedVersion,
                message: format!("this server speaks application protocol {APP_PROTOCOL_VERSION}, not {version}"),
            }),
            ClientMessage::Lock { .. } if role != Role::Facilitator => Some(forbidden("lock or unlock the board")),
            ClientMessage::SetStep { .. } if role != Role::Facilitator => Some(forbidden("move the workshop on")),
            ClientMessage::SetTimer { .. } if role != Role::Facilitator => Some(forbidden("set the timer")),
            ClientMessage::SetPrivate { .. } if role != Role::Facilitator => Some(forbidden("end private writing")),
            ClientMessage::StartTurns { .. } if role != Role::Facilitator => Some(forbidden("start a turn order")),
            ClientMessage::ShowViewport { .. } if role != Role::Facilitator => Some(forbidden("lead the view")),
            ClientMessage::Turn { action } if role != Role::Facilitator && action != TurnAction::Pass => {
                Some(forbidden("move the turn order on"))
            }
            ClientMessage::PutPrivateNote { .. } | ClientMessage::DeletePrivateNote { .. } if role == Role::Viewer => {
                Some(ServerMessage::Error { code: ErrorCode::Forbidden, message: "viewers cannot write notes".into() })
            }
            ClientMessage::PutPrivateNote { .. } if role == Role::Participant && self.locked => {
                Some(ServerMessage::Error {
                    code: ErrorCode::Forbidden,
                    message: "the facilitator locked the board".into(),
                })
            }
            ClientMessage::SetStep { step } => self.workshop_change(out, |w| w.set_step(step)).or_else(|| {
                let label = self.workshop.current_step().map(|s| s.title.clone());
                let change =
                    Change { kind: ChangeKind::StepChanged, id: None, fields: Vec::new(), label, to_seq: None };
                out.writes.push(self.event(&author, change));
                None
            }),
            ClientMessage::SetTimer { seconds } => self.workshop_change(out, |w| w.set_timer(seconds, now_ms())),
            ClientMessage::SetPrivate { private } => self.set_private(private, &author, out),
            ClientMessage::PutPrivateNote { note } => {
                let exists = self.roots().has_note(&self.doc.transact(), &note.id);
                let id = note.id.clone();
                let result = self.workshop.put_private(&author, *note, exists);
                self.private_note_changed(&author, &id, result, out)
            }
            ClientMessage::DeletePrivateNote { id } => {
                let result = self.workshop.delete_private(&author, &id);
                self.private_note_changed(&author, &id, result, out)
            }
            ClientMessage::StartTurns { people } => self.workshop_change(out, |w| w.start_turns(people)),
            ClientMessage::Turn { action } => {
                let facilitator = role == Role::Facilitator;
                self.workshop_change(out, |w| w.turn(action, &author, facilitator))
            }
            ClientMessage::ShowViewport { viewport, bring } => {
                self.viewport = Some((viewport, author.name.clone()));
                let by = Some(author.name.clone());
                let message = Bytes::from(frame::server_app(&ServerMessage::Viewport { viewport, bring, by }));
                for (&other, c) in &self.conns {
                    if other != conn && c.app {
                        out.direct.push((other, message.clone()));
                    }
                }
                None
            }
            ClientMessage::OpenVote { .. } if role != Role::Facilitator => Some(forbidden("open a vote")),
            ClientMessage::CloseVote { .. } if role != Role::Facilitator => Some(forbidden("close a vote")),
            ClientMessage::RevealVote { .. } if role != Role::Facilitator => Some(forbidden("reveal a vote")),
            ClientMessage::CastVote { .. } | ClientMessage::RetractVote { .. } if role == Role::Viewer => {
                Some(ServerMessage::Error { code: ErrorCode::Forbidden, message: "viewers cannot vote".into() })
            }
            ClientMessage::CastVote { .. } if !self.may_vote(conn, &message_vote(&message)) => {
                Some(ServerMessage::Error {
                    code: ErrorCode::Forbidden,
                    message: "this vote is for people holding a personal link from the facilitator".into(),
                })
            }
            ClientMessage::SetName { name } => {
                let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
                if name.is_empty() {
                    Some(ServerMessage::Error { code: ErrorCode::InvalidRequest, message: "a name is required".into() })
                } else {
                    // A label only: every connection of the person shows it; the id stays.
                    for c in self.conns.values_mut().filter(|c| c.member.author.id == author.id) {
                        c.member.author.name = name.clone();
                    }
                    None
                }
            }
            ClientMessage::OpenVote { settings } => self.open_vote(settings, &author, out),
            ClientMessage::CastVote { vote, candidate } => self.ballot(conn, &author, &vote, &candidate, true, out),
            ClientMessage::RetractVote { vote, candidate } => self.ballot(conn, &author, &vote, &candidate, false, out),
            ClientMessage::CloseVote { vote } => self.end_vote(&vote, false, &author, out),
            ClientMessage::RevealVote { vote } => self.end_vote(&vote, true, &author, out),
            ClientMessage::Lock { locked } => {
                if locked != self.locked {
                    self.locked = locked;
                    out.writes.push(Write::Locked { board: self.id.clone(), locked });
                    let kind = if locked { ChangeKind::Locked } else { ChangeKind::Unlocked };
                    out.writes.push(
                        self.event(&author, Change { kind, id: None, fields: Vec::new(), label: None, to_seq: None }),
                    );
                    out.app.push(ServerMessage::BoardState { locked });
                    if !locked {
                        self.ask_refused_again(out);
                    }
                    info!(locked, "board lock changed");
                }
                None
            }
        };
        if let Some(reply) = reply {
            out.direct.push((conn, frame::server_app(&reply).into()));
        }
    }
}
