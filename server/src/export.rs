//! Exports of a board, made by the server: a picture (`svg`, `png`: the canvas as the
//! web client draws it), the actions as a table (`actions`: CSV and JSON), and the
//! whole board as one file (`file`: the document, votes, workshop and history
//! summary) that `commonboard import` or `POST /api/boards` turn into a new board.

pub mod actions;
pub mod file;
pub mod png;
pub mod svg;

/// Why an export or an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot draw the board as PNG: {0}")]
    Render(String),
    #[error("not a Commonboard board file: {0}")]
    NotABoardFile(String),
    #[error("this board file is format version {0}; this server reads version {1}")]
    Version(u32, u32),
    #[error("the board file's document is damaged: {0}")]
    Document(String),
}
