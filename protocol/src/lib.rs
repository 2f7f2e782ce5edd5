//! Commonboard's wire format, defined once for the server, the load tool and the web client.
//!
//! The crate does no IO. It owns:
//! - [`frame`]: decoding and encoding WebSocket frames in the Yjs sync protocol as
//!   `y-protocols` speaks it (sync, awareness, auth, query-awareness), plus
//!   Commonboard's own [`app`] messages on message type [`frame::MSG_APP`];
//! - [`validate`]: the validating reader every client frame passes before yrs reads it;
//! - [`stitch`]: v1 updates joined on their encoded form (a checkpoint and the log after it);
//! - [`app`]: the application messages the server, not the CRDT, decides on;
//! - [`close`]: the WebSocket close codes and reasons the server sends;
//! - [`schema`]: the names and shapes of the shared types inside a board's `Y.Doc`;
//! - [`api`]: the JSON bodies of the HTTP API;
//! - [`history`]: the JSON bodies of the history API (changes, states, diffs, restores);
//! - [`workshop`]: the workshop flow's shared state (step, timer, private writing, turns).
//!
//! TypeScript declarations for the web client are generated from these types by
//! [`typescript::bindings`] and checked in under `web/src/generated/`.

pub mod api;
pub mod app;
pub mod close;
pub mod frame;
pub mod history;
pub mod schema;
pub mod stitch;
pub mod typescript;
pub mod validate;
pub mod workshop;

pub use yrs;
