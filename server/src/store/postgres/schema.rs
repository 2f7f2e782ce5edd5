//! The PostgreSQL schema: versioned migrations run on start, and settings shared by
//! every server (the signing key).
//!
//! Applied versions are rows of `schema_migrations`; each migration runs in its own
//! transaction with its row. Servers starting together take an advisory lock first, so
//! one migrates and the others then find the work done.

use postgres::Client;

use crate::store::StoreError;

/// Advisory lock key held while migrating (the bytes of "cboard01").
const MIGRATION_LOCK: i64 = 0x63_62_6f_61_72_64_30_31;

/// Schema, one migration per version from 1. Append migrations; never edit one.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE boards (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        template TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        links_generation BIGINT NOT NULL DEFAULT 1,
        locked BOOLEAN NOT NULL DEFAULT FALSE,
        compacted_through BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE updates (
        board TEXT NOT NULL,
        seq BIGINT NOT NULL CHECK (seq > 0),
        at BIGINT NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (board, seq)
    );
    CREATE INDEX updates_by_time ON updates (board, at, seq);
    CREATE TABLE checkpoints (
        board TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        state BYTEA NOT NULL,
        encoding SMALLINT NOT NULL,
        PRIMARY KEY (board, seq)
    );
    CREATE TABLE votes (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        settings TEXT NOT NULL,
        opened_at BIGINT NOT NULL,
        closes_at BIGINT,
        open BOOLEAN NOT NULL,
        revealed BOOLEAN NOT NULL,
        PRIMARY KEY (board, id)
    );
    CREATE TABLE ballots (
        board TEXT NOT NULL,
        vote TEXT NOT NULL,
        voter TEXT NOT NULL,
        name TEXT NOT NULL,
        candidate TEXT NOT NULL,
        count BIGINT NOT NULL CHECK (count >= 0),
        PRIMARY KEY (board, vote, voter, candidate)
    );
    CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        board TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        change TEXT NOT NULL
    );
    CREATE INDEX events_by_point ON events (board, seq, id);
    CREATE TABLE workshops (
        board TEXT PRIMARY KEY,
        state TEXT NOT NULL
    );
    CREATE TABLE private_notes (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        note TEXT NOT NULL,
        PRIMARY KEY (board, id)
    );
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
",
    // Votes stay correct when several servers take ballots: the database itself refuses
    // a ballot on a closed vote, over a candidate's limit or over the voter's budget. A
    // lock per voter serializes two servers counting the same voter's ballots; sharing
    // the vote's row makes a ballot wait for a close being committed.
    "
    CREATE FUNCTION commonboard_check_ballot() RETURNS TRIGGER LANGUAGE plpgsql AS $$
    DECLARE
        vote_settings JSONB;
        vote_open BOOLEAN;
        spent BIGINT;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended(NEW.board || '/' || NEW.vote || '/' || NEW.voter, 0));
        SELECT v.settings::JSONB, v.open INTO vote_settings, vote_open FROM votes AS v
            WHERE v.board = NEW.board AND v.id = NEW.vote FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = format('no vote %s', NEW.vote);
        END IF;
        IF NOT vote_open THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = format('vote %s is closed', NEW.vote);
        END IF;
        IF NEW.count > (vote_settings ->> 'max_per_candidate')::BIGINT THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s votes for one candidate is over the limit of vote %s', NEW.count, NEW.vote);
        END IF;
        SELECT COALESCE(SUM(b.count), 0) INTO spent FROM ballots AS b
            WHERE b.board = NEW.board AND b.vote = NEW.vote AND b.voter = NEW.voter AND b.candidate <> NEW.candidate;
        IF spent + NEW.count > (vote_settings ->> 'budget')::BIGINT THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s votes in all is over the budget of vote %s', spent + NEW.count, NEW.vote);
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER ballots_within_the_rules BEFORE INSERT OR UPDATE ON ballots
        FOR EACH ROW EXECUTE FUNCTION commonboard_check_ballot();
",
    // Several nodes (`--broker`): one node owns each loaded board and holds its lease,
    // renewed while it runs the board; a lease past `expires_at` (database time) may be
    // taken by any node.
    "
    CREATE TABLE board_leases (
        board TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
",
    // People the facilitator removed from a board (their person ids are refused).
    "
    CREATE TABLE removed_people (
        board TEXT NOT NULL,
        person TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (board, person)
    );
",
    // Webhooks a board's facilitator registered (events: a JSON array of names); they
    // go with their board.
    "
    CREATE TABLE webhooks (
        board TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        registered_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (board, id)
    );
",
    // The bytes each person's updates took in a board's log through `shares_through`
    // (saved with checkpoints), so that loading a board does not sum its whole log.
    "
    CREATE TABLE person_shares (
        board TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
        person TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        PRIMARY KEY (board, person)
    );
    ALTER TABLE boards ADD COLUMN shares_through BIGINT NOT NULL DEFAULT 0;
",
    // What each logged update changed (a JSON list of history changes), described once
    // when the history first lists it; rows of older databases have none until then.
    "
    CREATE TABLE summaries (
        board TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        changes TEXT NOT NULL,
        PRIMARY KEY (board, seq)
    );
",
];

/// The schema version this server writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema to [`VERSION`], holding the migration lock meanwhile.
pub fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = migrate_locked(client);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result?;
    unlocked?;
    Ok(())
}

fn migrate_locked(client: &mut Client) -> Result<(), StoreError> {
    let exists: bool = client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?.get(0);
    if !exists {
        client.batch_execute(
            "CREATE TABLE schema_migrations (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )?;
    }
    let current: i64 = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.get(0);
    if current > VERSION {
        return Err(StoreError::Unusable(format!(
            "the database's schema is version {current}, newer than this server's ({VERSION}): upgrade the server"
        )));
    }
    for (version, migration) in (1_i64..).zip(MIGRATIONS).skip(current as usize) {
        let _span = tracing::info_span!("migrate", version).entered();
        let mut tx = client.transaction()?;
        tx.batch_execute(migration)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version])?;
        tx.commit()?;
        tracing::info!(version, "migrated the PostgreSQL schema");
    }
    Ok(())
}

/// The signing key every server sharing this database uses: the first to ask creates
/// it, atomically, and everyone reads the same one.
pub fn signing_key(client: &mut Client) -> Result<String, StoreError> {
    let bytes: [u8; 32] = rand::random();
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    client.execute(
        "INSERT INTO settings (name, value) VALUES ('signing_key', $1) ON CONFLICT (name) DO NOTHING",
        &[&fresh],
    )?;
    Ok(client.query_one("SELECT value FROM settings WHERE name = 'signing_key'", &[])?.get(0))
}
