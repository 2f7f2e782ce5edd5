//! Access links: signed tokens that say which board, which role, whose identity, until when.
//!
//! A token is `v1.<payload>.<signature>`, both parts base64url: the payload is JSON
//! (board id, role, optional identity, links generation, expiry) and the signature is
//! HMAC-SHA256 over it with the server's key. The key is generated on first start and
//! kept in the data directory (`signing.key`), or in the database when servers share a
//! PostgreSQL store, or given with `--signing-key`. Checking a signature is
//! constant-time: `Mac::verify_slice` compares the whole tag with `subtle`, and it is
//! the only comparison involving a secret (the payload is decoded and its board, role
//! and expiry compared only after the signature matched; they are not secret). `Signer`
//! has no `Debug`, so the key cannot be logged by accident.
//!
//! A board's *links generation* holds two counters: the low 32 bits rise when the
//! facilitator rotates the shared links (participant, viewer, presenter and personal
//! tokens of an older count are refused from then on), the high 32 bits when the
//! facilitator rotates their own link (older facilitator tokens are refused).
//!
//! A *person* is an id the server issues ([`new_person_id`], 128 random bits): a
//! participant token carries it in `identity`. A shared participant link has none; the
//! server gives each connection opened with it a new person and, to a client that
//! says hello, a personal token for that person to keep. Nothing a client sends
//! chooses an id.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use commonboard_protocol::app::Role;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::{Store, StoreError, KEY_FILE};

const VERSION: &str = "v1";

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The board.
    #[serde(rename = "b")]
    pub board: String,
    #[serde(rename = "r")]
    pub role: Role,
    /// A personal identity, when the link was minted for one person.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The board's links generation when the token was issued.
    #[serde(rename = "g")]
    pub generation: u64,
    /// A personal link the facilitator handed out (`POST /identities`): its holder is
    /// on the board's roster, for votes restricted to it.
    #[serde(rename = "m", default, skip_serializing_if = "std::ops::Not::not")]
    pub minted: bool,
    /// The big screen's capability (a viewer that may also draw the room's join code).
    #[serde(rename = "p", default, skip_serializing_if = "std::ops::Not::not")]
    pub presenter: bool,
    /// Expiry, seconds since the Unix epoch.
    #[serde(rename = "x")]
    pub expires: i64,
}

/// Why a token was refused; the text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("an access token is required: open the board with the link you were given")]
    Missing,
    #[error("invalid access token")]
    Invalid,
    #[error("this link has expired; ask the facilitator for a new one")]
    Expired,
    #[error("this link was revoked; ask the facilitator for the new one")]
    Revoked,
    #[error("this link is for another board")]
    OtherBoard,
    #[error("only the facilitator can do this")]
    Forbidden,
    #[error("the facilitator removed this person from the board")]
    Removed,
}

/// Prefix of the person ids the server issues.
pub const PERSON_PREFIX: &str = "person:";
/// The identity of whoever holds the facilitator link.
pub const FACILITATOR_ID: &str = "facilitator";
/// One step of the facilitator's counter in the links generation.
pub const FACILITATOR_STEP: u64 = 1 << 32;

/// A new person id: 128 random bits, which nobody can guess or choose.
pub fn new_person_id() -> String {
    let bits: u128 = rand::random();
    format!("{PERSON_PREFIX}{bits:032x}")
}

/// Whether `id` has the shape of a person id the server issues (32 hex digits; 16 for
/// personal links minted by earlier versions).
pub fn is_person_id(id: &str) -> bool {
    id.strip_prefix(PERSON_PREFIX)
        .is_some_and(|hex| matches!(hex.len(), 16 | 32) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// Uses `key` if given, else the key shared through `store` (created by the first
    /// server to start), else the key in `data_dir`, generating it on first start.
    /// Blocking.
    pub fn for_store(key: Option<&str>, data_dir: &Path, store: &dyn Store) -> Result<Self, StoreError> {
        if key.is_none() {
            if let Some(shared) = store.shared_signing_key()? {
                return Ok(Signer { key: shared.into_bytes() });
            }
        }
        Ok(Self::load(key, data_dir)?)
    }

    /// Uses `key` if given, else the key in `data_dir`, generating it on first start.
    pub fn load(key: Option<&str>, data_dir: &Path) -> std::io::Result<Self> {
        if let Some(key) = key {
            return Ok(Signer { key: key.as_bytes().to_vec() });
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(hex) => Ok(Signer { key: hex.trim().as_bytes().to_vec() }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
                }
                let bytes: [u8; 32] = rand::random();
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                write_private(&path, &hex)?;
                Ok(Signer { key: hex.into_bytes() })
            }
            Err(error) => Err(error),
        }
    }

    /// Issues a token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{VERSION}.{payload}.{signature}")
    }

    /// Checks a token's signature and expiry and that it is for `board`. The links
    /// generation is checked by the caller, who knows the board's current one.
    pub fn verify(&self, token: &str, board: &str, now_s: i64) -> Result<Claims, AuthError> {
        let mut parts = token.split('.');
        let (Some(VERSION), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Invalid);
        };
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| AuthError::Invalid)?;
        self.mac(payload).verify_slice(&signature).map_err(|_| AuthError::Invalid)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AuthError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| AuthError::Invalid)?;
        if claims.board != board {
            return Err(AuthError::OtherBoard);
        }
        if claims.expires <= now_s {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }
}

/// Whether a token of `claims` is still honoured by a board at links `generation`:
/// a facilitator token must match the facilitator's counter (high 32 bits), every
/// other token the shared links' counter (low 32 bits).
pub fn check_generation(claims: &Claims, generation: u64) -> Result<(), AuthError> {
    let (mine, current) = match claims.role {
        Role::Facilitator => (claims.generation >> 32, generation >> 32),
        _ => (claims.generation & 0xffff_ffff, generation & 0xffff_ffff),
    };
    if mine != current {
        return Err(AuthError::Revoked);
    }
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            board: "b1".into(),
            role: Role::Viewer,
            identity: None,
            generation: 3,
            expires: 1_000,
            minted: false,
            presenter: false,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_tampering_is_caught() {
        let signer = Signer { key: b"k".to_vec() };
        let token = signer.sign(&claims());
        assert_eq!(signer.verify(&token, "b1", 999), Ok(claims()));
        assert_eq!(signer.verify(&token, "b2", 999), Err(AuthError::OtherBoard));
        assert_eq!(signer.verify(&token, "b1", 1_000), Err(AuthError::Expired));
        let forged = Signer { key: b"other".to_vec() }.sign(&Claims { role: Role::Facilitator, ..claims() });
        assert_eq!(signer.verify(&forged, "b1", 999), Err(AuthError::Invalid));
        let (head, _) = token.rsplit_once('.').unwrap();
        let promoted =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Claims { role: Role::Facilitator, ..claims() }).unwrap());
        let spliced = format!("v1.{promoted}.{}", token.rsplit('.').next().unwrap());
        assert_eq!(signer.verify(&spliced, "b1", 999), Err(AuthError::Invalid));
        assert_eq!(signer.verify(head, "b1", 999), Err(AuthError::Invalid));
        assert_eq!(signer.verify("", "b1", 999), Err(AuthError::Invalid));
    }

    #[test]
    fn each_rotation_revokes_its_own_links() {
        let old = claims();
        assert_eq!(check_generation(&old, 4), Err(AuthError::Revoked));
        assert_eq!(check_generation(&old, 3), Ok(()));
        let facilitator = Claims { role: Role::Facilitator, ..old.clone() };
        assert_eq!(check_generation(&facilitator, 4), Ok(()), "shared links rotated");
        assert_eq!(check_generation(&facilitator, 3 + FACILITATOR_STEP), Err(AuthError::Revoked));
        assert_eq!(check_generation(&old, 3 + FACILITATOR_STEP), Ok(()), "facilitator link rotated");
    }

    #[test]
    fn person_ids_are_random_and_recognized() {
        let (a, b) = (new_person_id(), new_person_id());
        assert_ne!(a, b);
        assert!(is_person_id(&a) && a.len() == PERSON_PREFIX.len() + 32);
        assert!(!is_person_id("participant:Ana") && !is_person_id("person:12") && !is_person_id("person:x"));
        assert!(is_person_id("person:0123456789abcdef"), "minted by an earlier version");
    }

    #[test]
    fn the_key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Signer::load(None, dir.path()).unwrap();
        let again = Signer::load(None, dir.path()).unwrap();
        assert_eq!(first.key, again.key);
        assert_eq!(first.key.len(), 64);
    }
}
