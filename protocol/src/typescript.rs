//! TypeScript declarations for the web client, generated from this crate's types.
//!
//! [`bindings`] returns the text of `web/src/generated/protocol.ts`. The file is checked
//! in; the test `typescript_bindings_are_fresh` fails when it is stale, and rewrites it
//! when run with `UPDATE_BINDINGS=1`.

use ts_rs::{Config, TS};

use crate::{api, app, frame, history, schema, workshop};

/// Where the generated file lives, relative to the repository root.
pub const BINDINGS_PATH: &str = "web/src/generated/protocol.ts";

/// The full text of the generated TypeScript module.
pub fn bindings() -> String {
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from the Rust `commonboard-protocol` crate. Do not edit by hand:\n\
         // run `UPDATE_BINDINGS=1 cargo test -p commonboard-protocol` to regenerate.\n\n",
    );
    let declarations = [
        schema::BoardMeta::decl(&cfg),
        schema::Note::decl(&cfg),
        schema::TeamFields::decl(&cfg),
        schema::Frame::decl(&cfg),
        schema::Action::decl(&cfg),
        schema::BoardSnapshot::decl(&cfg),
        app::ClientMessage::decl(&cfg),
        app::ServerMessage::decl(&cfg),
        app::Role::decl(&cfg),
        app::VoteSettings::decl(&cfg),
        app::VoteView::decl(&cfg),
        app::Tally::decl(&cfg),
        app::Turnout::decl(&cfg),
        app::ErrorCode::decl(&cfg),
        api::CreateBoardRequest::decl(&cfg),
        api::BoardInfo::decl(&cfg),
        api::ApiError::decl(&cfg),
        api::BoardLinks::decl(&cfg),
        api::MintIdentityRequest::decl(&cfg),
        api::IdentityLink::decl(&cfg),
        api::PresenterLink::decl(&cfg),
        api::PersonRemoved::decl(&cfg),
        api::TemplateInfo::decl(&cfg),
        history::HistoryAuthor::decl(&cfg),
        history::ChangeKind::decl(&cfg),
        history::Change::decl(&cfg),
        history::HistoryEntry::decl(&cfg),
        history::LogStats::decl(&cfg),
        history::HistoryPage::decl(&cfg),
        history::BoardStateAt::decl(&cfg),
        history::ChangedItem::decl(&cfg),
        history::ItemDiff::<schema::Note>::decl(&cfg),
        history::BoardDiff::decl(&cfg),
        history::TimelineBucket::decl(&cfg),
        history::TimelineMarker::decl(&cfg),
        history::Timeline::decl(&cfg),
        history::LoggedUpdate::decl(&cfg),
        history::UpdatePage::decl(&cfg),
        history::RestoreRequest::decl(&cfg),
        history::RestoreResult::decl(&cfg),
        workshop::StepInfo::decl(&cfg),
        workshop::Timer::decl(&cfg),
        workshop::TurnPerson::decl(&cfg),
        workshop::Turns::decl(&cfg),
        workshop::TurnAction::decl(&cfg),
        workshop::Viewport::decl(&cfg),
        workshop::Writing::decl(&cfg),
        workshop::WorkshopState::decl(&cfg),
    ];
    for declaration in declarations {
        out.push_str("export ");
        out.push_str(&declaration);
        out.push_str("\n\n");
    }
    out.push_str(&constants());
    out
}

fn constants() -> String {
    let object = |entries: &[(&str, &str)]| {
        let body: Vec<String> = entries.iter().map(|(k, v)| format!("  {k}: {v:?},")).collect();
        format!("{{\n{}\n}} as const", body.join("\n"))
    };
    let colors: Vec<String> = schema::NOTE_COLORS.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "/** Message type of Commonboard application messages (JSON inside a var-length buffer). */\n\
         export const MSG_APP = {};\n\n\
         /** Version of the application protocol. */\n\
         export const APP_PROTOCOL_VERSION = {};\n\n\
         /** Names of the root shared types of a board's Y.Doc. */\n\
         export const ROOTS = {};\n\n\
         /** Field names of the `meta` map. */\n\
         export const META_FIELDS = {};\n\n\
         /** Field names of a note's map. */\n\
         export const NOTE_FIELDS = {};\n\n\
         /** Kinds of note the workshop template uses (a note's `kind`). */\n\
         export const NOTE_KINDS = {};\n\n\
         /** Field names of a frame's map. */\n\
         export const FRAME_FIELDS = {};\n\n\
         /** Field names of an action's map. */\n\
         export const ACTION_FIELDS = {};\n\n\
         /** Colours a note may take. */\n\
         export const NOTE_COLORS = [{}] as const;\n\n\
         /** Size of a new note, in canvas pixels. */\n\
         export const NOTE_SIZE = {{ w: {}, h: {} }} as const;\n\n\
         /** WebSocket close codes the server uses. */\n\
         export const CLOSE_CODES = {};\n",
        frame::MSG_APP,
        app::APP_PROTOCOL_VERSION,
        object(&[
            ("meta", schema::META),
            ("notes", schema::NOTES),
            ("frames", schema::FRAMES),
            ("actions", schema::ACTIONS),
        ]),
        object(&[
            ("title", schema::meta::TITLE),
            ("template", schema::meta::TEMPLATE),
            ("createdAt", schema::meta::CREATED_AT),
            ("commonGoal", schema::meta::COMMON_GOAL),
        ]),
        object(&[
            ("text", schema::note::TEXT),
            ("pos", schema::note::POS),
            ("x", schema::note::X),
            ("y", schema::note::Y),
            ("w", schema::note::W),
            ("h", schema::note::H),
            ("color", schema::note::COLOR),
            ("author", schema::note::AUTHOR),
            ("frame", schema::note::FRAME),
            ("createdAt", schema::note::CREATED_AT),
            ("kind", schema::note::KIND),
            ("authorId", schema::note::AUTHOR_ID),
            ("pair", schema::note::PAIR),
            ("expectsOfUs", schema::note::EXPECTS_OF_US),
            ("weExpect", schema::note::WE_EXPECT),
            ("interaction", schema::note::INTERACTION),
            ("conflict", schema::note::CONFLICT),
            ("chosen", schema::note::CHOSEN),
        ]),
        object(&[
            ("guide", schema::note_kind::GUIDE),
            ("team", schema::note_kind::TEAM),
            ("need", schema::note_kind::NEED),
            ("goal", schema::note_kind::GOAL),
            ("obstacle", schema::note_kind::OBSTACLE),
            ("remedy", schema::note_kind::REMEDY),
            ("followUp", schema::note_kind::FOLLOW_UP),
        ]),
        object(&[
            ("title", schema::frame::TITLE),
            ("x", schema::frame::X),
            ("y", schema::frame::Y),
            ("w", schema::frame::W),
            ("h", schema::frame::H),
            ("createdAt", schema::frame::CREATED_AT),
            ("step", schema::frame::STEP),
            ("guide", schema::frame::GUIDE),
            ("area", schema::frame::AREA),
        ]),
        object(&[
            ("text", schema::action::TEXT),
            ("owner", schema::action::OWNER),
            ("due", schema::action::DUE),
            ("done", schema::action::DONE),
            ("createdAt", schema::action::CREATED_AT),
        ]),
        colors.join(", "),
        schema::NOTE_SIZE.0,
        schema::NOTE_SIZE.1,
        close_codes(),
    )
}

fn close_codes() -> String {
    use crate::close::*;
    let codes = [
        ("goingAway", GOING_AWAY),
        ("invalidData", INVALID_DATA),
        ("policy", POLICY),
        ("tooBig", TOO_BIG),
        ("internal", INTERNAL),
        ("tooSlow", TOO_SLOW),
        ("unauthorized", UNAUTHORIZED),
        ("forbidden", FORBIDDEN),
        ("boardNotFound", BOARD_NOT_FOUND),
        ("notSaved", NOT_SAVED),
        ("tooFast", TOO_FAST),
        ("boardFull", BOARD_FULL),
        ("serverFull", SERVER_FULL),
        ("tooManyBoards", TOO_MANY_BOARDS),
        ("boardLoading", BOARD_LOADING),
    ];
    let body: Vec<String> = codes.iter().map(|(name, code)| format!("  {name}: {},", code.0)).collect();
    format!("{{\n{}\n}} as const", body.join("\n"))
}
