//! Which counterparties may log on, with what credentials and limits, and the
//! session-layer timing every acceptor session shares.

use sha2::{Digest, Sha256};

/// A password kept only as salted SHA-256, so a leaked config leaks no secret.
///
/// Text form: `sha256:<salt hex>:<digest hex>` where digest = SHA-256(salt ‖ password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    salt: Vec<u8>,
    digest: [u8; 32],
}

/// Why a password hash string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPasswordHash(pub String);

impl std::fmt::Display for BadPasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad password hash {:?}: expected sha256:<salt hex>:<64 hex digits>",
            self.0
        )
    }
}

impl std::error::Error for BadPasswordHash {}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl PasswordHash {
    /// Hash `password` with `salt` (use a distinct random salt per session).
    pub fn new(salt: &[u8], password: &[u8]) -> Self {
        Self {
            salt: salt.to_vec(),
            digest: Self::digest(salt, password),
        }
    }

    fn digest(salt: &[u8], password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(password);
        h.finalize().into()
    }

    /// Read the `sha256:<salt>:<digest>` text form.
    pub fn parse(text: &str) -> Result<Self, BadPasswordHash> {
        let bad = || BadPasswordHash(text.to_string());
        let mut parts = text.split(':');
        if parts.next() != Some("sha256") {
            return Err(bad());
        }
        let salt = parts.next().and_then(unhex).ok_or_else(bad)?;
        let digest = parts.next().and_then(unhex).ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        let digest: [u8; 32] = digest.try_into().map_err(|_| bad())?;
        Ok(Self { salt, digest })
    }

    /// Does `password` hash to this value? Compares in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let d = Self::digest(&self.salt, password);
        d.iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}:{}", hex(&self.salt), hex(&self.digest))
    }
}

/// What to do with a session that sends faster than its [`RateLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleAction {
    /// Answer each excess message with a session Reject (373=99, text says why) and
    /// do not deliver it.
    Reject,
    /// Log the session out (text says why) and disconnect.
    Logout,
}

/// Per-session inbound message-rate limit: at most `max_messages` in each window of
/// `window_ms` milliseconds (fixed windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages allowed per window.
    pub max_messages: u32,
    /// Window length in milliseconds.
    pub window_ms: u64,
    /// What happens past the limit.
    pub action: ThrottleAction,
}

/// One counterparty that may log on.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our CompID as the counterparty addresses us: their TargetCompID(56), our
    /// SenderCompID(49).
    pub our_comp_id: String,
    /// Their CompID: their SenderCompID(49), our TargetCompID(56).
    pub their_comp_id: String,
    /// Username(553) they must send, if any.
    pub username: Option<String>,
    /// Hash of the Password(554) they must send; `None`: no password required.
    pub password: Option<PasswordHash>,
    /// Cancel the session's orders when it disconnects (told to the application in
    /// [`crate::fix::session::Application::on_session_down`]).
    pub cancel_on_disconnect: bool,
    /// Inbound message-rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Reset both sequence numbers to 1 at every logon, whatever ResetSeqNumFlag(141)
    /// says (the acceptance-suite setting); otherwise they persist across connections.
    pub reset_on_logon: bool,
}

impl SessionConfig {
    /// A session with no password, no limits and persistent sequence numbers.
    pub fn new(our_comp_id: &str, their_comp_id: &str) -> Self {
        Self {
            our_comp_id: our_comp_id.to_string(),
            their_comp_id: their_comp_id.to_string(),
            username: None,
            password: None,
            cancel_on_disconnect: false,
            rate_limit: None,
            reset_on_logon: false,
        }
    }

    /// Directory name of this session's store under the data directory.
    pub fn store_name(&self) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        };
        format!(
            "{}-{}",
            clean(&self.our_comp_id),
            clean(&self.their_comp_id)
        )
    }
}

/// Session-layer settings shared by every session of an acceptor.
#[derive(Debug, Clone)]
pub struct Settings {
    /// BeginString(8) we speak.
    pub begin_string: &'static str,
    /// Largest message accepted, bytes (the documented maximum; larger ones are
    /// treated as garbled and skipped).
    pub max_message_len: usize,
    /// Largest SendingTime(52) difference from our clock accepted (FIX: 120 s).
    pub sending_time_tolerance_ns: u64,
    /// Smallest and largest HeartBtInt(108) accepted at logon, seconds.
    pub heartbeat_range_s: (u64, u64),
    /// How long a connection may stay without a Logon, and how long we wait for the
    /// answer to our Logout, before disconnecting.
    pub logon_timeout_ns: u64,
    /// See `logon_timeout_ns`.
    pub logout_timeout_ns: u64,
    /// Bytes a connection may have waiting to be written; past it the client is too
    /// slow and is disconnected.
    pub max_outbound_buffer: usize,
    /// Most out-of-order messages held while waiting for a resend to fill a gap;
    /// past it the session is logged out.
    pub max_queued_messages: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            begin_string: "FIX.4.4",
            max_message_len: super::codec::DEFAULT_MAX_MESSAGE_LEN,
            sending_time_tolerance_ns: 120_000_000_000,
            heartbeat_range_s: (0, 3600),
            logon_timeout_ns: 10_000_000_000,
            logout_timeout_ns: 10_000_000_000,
            max_outbound_buffer: 4 * 1024 * 1024,
            max_queued_messages: 100_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip_and_verify() {
        let h = PasswordHash::new(b"salt-1", b"s3cret");
        assert!(h.verify(b"s3cret"));
        assert!(!h.verify(b"s3cre"));
        assert!(!h.verify(b""));
        let text = h.to_string();
        assert!(text.starts_with("sha256:73616c742d31:"));
        assert!(!text.contains("s3cret"));
        let back = PasswordHash::parse(&text).unwrap();
        assert_eq!(back, h);
        assert!(back.verify(b"s3cret"));
    }

    #[test]
    fn bad_hash_text_is_an_error() {
        for t in [
            "",
            "md5:00:00",
            "sha256:zz:00",
            "sha256:00:0011",
            "sha256:00",
        ] {
            assert!(PasswordHash::parse(t).is_err(), "{t}");
        }
    }

    #[test]
    fn store_name_is_path_safe() {
        let c = SessionConfig::new("ISLD", "../TW");
        assert_eq!(c.store_name(), "ISLD-___TW");
    }
}
