//! The board's actions as a table: CSV (RFC 4180, guarded against spreadsheet formula
//! injection) and JSON, for issue trackers and spreadsheets.

use commonboard_protocol::schema::Action;
use serde::Serialize;

/// One action as the JSON export lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionRow<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub owner: &'a str,
    /// `YYYY-MM-DD`, or empty.
    pub due: &'a str,
    pub done: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// The actions, oldest first, as JSON rows.
pub fn rows(actions: &[Action]) -> Vec<ActionRow<'_>> {
    let mut sorted: Vec<&Action> = actions.iter().collect();
    sorted.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    sorted
        .into_iter()
        .map(|a| ActionRow {
            id: &a.id,
            text: &a.text,
            owner: &a.owner,
            due: &a.due,
            done: a.done,
            created_at: crate::history::rfc3339(a.created_at as i64),
        })
        .collect()
}

/// The actions as CSV with a header line, CRLF line ends (RFC 4180).
pub fn csv(actions: &[Action]) -> String {
    let mut out = String::from("text,owner,due,done,created_at,id\r\n");
    for row in rows(actions) {
        let fields = [row.text, row.owner, row.due, if row.done { "yes" } else { "no" }, &row.created_at, row.id];
        let cells: Vec<String> = fields.iter().map(|field| cell(field)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV cell: a text a spreadsheet would run as a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading `'`; a cell holding a comma,
/// quote or line break is quoted, its quotes doubled.
pub fn cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_guarded() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a, b"), "\"a, b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
    }
}
