//! The SQLite store's schema: its migrations, applied in order and counted in
//! `PRAGMA user_version`.

use rusqlite::Connection;

use super::super::StoreError;

/// Schema, versioned with `PRAGMA user_version`. Append migrations; never edit one.
pub(super) const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE boards (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        template TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE updates (
        board TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (board, seq)
    ) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        board TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (board, seq)
    ) WITHOUT ROWID;
",
    "
    ALTER TABLE boards ADD COLUMN links_generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE boards ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
",
    "
    CREATE TABLE votes (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        settings TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        closes_at INTEGER,
        open INTEGER NOT NULL,
        revealed INTEGER NOT NULL,
        PRIMARY KEY (board, id)
    ) WITHOUT ROWID;
    CREATE TABLE ballots (
        board TEXT NOT NULL,
        vote TEXT NOT NULL,
        voter TEXT NOT NULL,
        name TEXT NOT NULL,
        candidate TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (board, vote, voter, candidate)
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE events (
        board TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        change TEXT NOT NULL
    );
    CREATE INDEX events_by_point ON events (board, seq);
    CREATE INDEX updates_by_time ON updates (board, at, seq);
    ALTER TABLE boards ADD COLUMN compacted_through INTEGER NOT NULL DEFAULT 0;
",
    "
    CREATE TABLE workshops (
        board TEXT PRIMARY KEY,
        state TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE private_notes (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        note TEXT NOT NULL,
        PRIMARY KEY (board, id)
    ) WITHOUT ROWID;
",
    "
    ALTER TABLE checkpoints ADD COLUMN encoding INTEGER NOT NULL DEFAULT 1;
",
    "
    CREATE TABLE removed_people (
        board TEXT NOT NULL,
        person TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (board, person)
    ) WITHOUT ROWID;
",
    // Webhooks a board's facilitator registered (events: a JSON array of names); they
    // go with their board.
    "
    CREATE TABLE webhooks (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        registered_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (board, id)
    ) WITHOUT ROWID;
    CREATE TRIGGER webhooks_go_with_their_board AFTER DELETE ON boards
    BEGIN
        DELETE FROM webhooks WHERE board = OLD.id;
    END;
",
    // The bytes each person's updates took in a board's log through `shares_through`
    // (saved with checkpoints), so that loading a board does not sum its whole log.
    "
    CREATE TABLE person_shares (
        board TEXT NOT NULL,
        person TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (board, person)
    ) WITHOUT ROWID;
    ALTER TABLE boards ADD COLUMN shares_through INTEGER NOT NULL DEFAULT 0;
    CREATE TRIGGER person_shares_go_with_their_board AFTER DELETE ON boards
    BEGIN
        DELETE FROM person_shares WHERE board = OLD.id;
    END;
",
    // What each logged update changed (a JSON list of history changes), described once
    // when the history first lists it; rows of older stores have none until then.
    "
    CREATE TABLE summaries (
        board TEXT NOT NULL,
        seq INTEGER NOT NULL,
        changes TEXT NOT NULL,
        PRIMARY KEY (board, seq)
    ) WITHOUT ROWID;
    CREATE TRIGGER summaries_go_with_their_board AFTER DELETE ON boards
    BEGIN
        DELETE FROM summaries WHERE board = OLD.id;
    END;
",
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}
