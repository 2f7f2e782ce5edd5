//! Each person's share of a board: the bytes of the accepted updates they wrote, so
//! that no one participant can fill a board's document for everyone else.

use std::collections::HashMap;

/// Bytes of the logged updates of each author (by person id) on one board: seeded from
/// the store's log when the board loads, added to as updates are logged. Only grows:
/// deleting what one wrote does not give the bytes back (the log keeps them).
#[derive(Debug, Default)]
pub struct Written(HashMap<String, usize>);

impl Written {
    /// The counts the store read from the board's log (see `StoredBoard::written`).
    pub fn from_log(rows: &[(String, u64)]) -> Self {
        Written(
            rows.iter()
                .map(|(person, bytes)| (person.clone(), usize::try_from(*bytes).unwrap_or(usize::MAX)))
                .collect(),
        )
    }

    /// Every person's count, to save with a checkpoint (see `Write::Shares`).
    pub fn rows(&self) -> Vec<(String, u64)> {
        self.0.iter().map(|(person, bytes)| (person.clone(), *bytes as u64)).collect()
    }

    /// Bytes `person` wrote so far.
    pub fn of(&self, person: &str) -> usize {
        self.0.get(person).copied().unwrap_or(0)
    }

    /// `person` wrote `bytes` more (a logged update).
    pub fn add(&mut self, person: &str, bytes: usize) {
        match self.0.get_mut(person) {
            Some(written) => *written = written.saturating_add(bytes),
            None => {
                self.0.insert(person.to_owned(), bytes);
            }
        }
    }

    /// Whether `bytes` more from `person` would take them past a share of `max` bytes.
    pub fn would_pass(&self, person: &str, bytes: usize, max: usize) -> bool {
        self.of(person).saturating_add(bytes) > max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_counts_what_each_person_wrote_from_the_log_on() {
        let mut written = Written::from_log(&[("ana".into(), 700), ("bo".into(), 10)]);
        assert_eq!(written.of("ana"), 700);
        assert_eq!(written.of("cy"), 0);
        written.add("ana", 300);
        written.add("cy", 5);
        assert_eq!((written.of("ana"), written.of("cy")), (1000, 5));
        assert!(!written.would_pass("ana", 0, 1000));
        assert!(written.would_pass("ana", 1, 1000));
        assert!(!written.would_pass("bo", 990, 1000));
        assert!(written.would_pass("bo", usize::MAX, 1000));
    }
}
