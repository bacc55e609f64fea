//! Who may query: a shared bearer token, or users with passwords who trade Basic credentials for a bearer
//! token through Handshake (what the JDBC and ADBC Flight SQL drivers do).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::FlightError;

/// Issued tokens live this long without use before they expire.
const TOKEN_IDLE_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many issued tokens are kept; the least recently used goes first.
const MAX_ISSUED_TOKENS: usize = 10_000;

/// Failed logins a client address may make within [`FAILURE_WINDOW`]; beyond them every request from it is refused
/// unchecked until the oldest of them is that old, so that guessing runs at this many tries a window, not at
/// thousands a second.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Client addresses whose failures are remembered at once; the quietest are forgotten first.
const MAX_FAILING_PEERS: usize = 10_000;

/// The server's credentials. Without any, every request is accepted (the server then binds to loopback only).
#[derive(Default)]
pub struct Auth {
    token: Option<String>,
    users: Vec<(String, String)>,
    issued: Mutex<HashMap<String, (String, Instant)>>,
    /// Per client address, the times of its recent failed logins.
    failures: Mutex<HashMap<std::net::IpAddr, std::collections::VecDeque<Instant>>>,
}

/// The identity a request was accepted under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    Token,
    User(String),
}

impl Auth {
    pub fn new(token: Option<String>, users: Vec<(String, String)>) -> Self {
        Auth { token, users, issued: Mutex::default(), failures: Mutex::default() }
    }

    pub fn is_required(&self) -> bool {
        self.token.is_some() || !self.users.is_empty()
    }

    /// Checks the `authorization` header: `Bearer <token>` or `Basic <base64 user:password>`.
    pub fn check(&self, metadata: &MetadataMap) -> Result<Identity, Status> {
        if !self.is_required() {
            return Ok(Identity::Anonymous);
        }
        let Some(header) = metadata.get("authorization") else {
            return Err(Status::unauthenticated("missing authorization header (expected `Bearer <token>`)"));
        };
        let header = header.to_str().map_err(|_| Status::unauthenticated("authorization header is not ASCII"))?;
        let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            self.check_bearer(value).ok_or_else(|| Status::unauthenticated("invalid bearer token"))
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| Status::unauthenticated("basic credentials are not base64"))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| Status::unauthenticated("basic credentials are not UTF-8"))?;
            let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
            self.check_password(user, password).ok_or_else(|| Status::unauthenticated("invalid user name or password"))
        } else {
            Err(Status::unauthenticated(format!("unsupported authorization scheme `{scheme}`")))
        }
    }

    fn check_bearer(&self, presented: &str) -> Option<Identity> {
        if let Some(token) = &self.token
            && constant_time_eq(token.as_bytes(), presented.as_bytes())
        {
            return Some(Identity::Token);
        }
        // Issued tokens are 256 random bits found through a keyed hash map, so lookup timing says nothing
        // about a guess's prefix; the final comparison is still constant-time.
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (stored, (user, last_used)) = issued.get_key_value(presented)?;
        let valid = now.duration_since(*last_used) <= TOKEN_IDLE_LIFETIME
            && constant_time_eq(stored.as_bytes(), presented.as_bytes());
        let user = user.clone();
        if !valid {
            issued.remove(presented);
            return None;
        }
        issued.insert(presented.to_string(), (user.clone(), now));
        Some(Identity::User(user))
    }

    fn check_password(&self, user: &str, password: &str) -> Option<Identity> {
        // Every entry is compared, so the time does not tell which user names exist.
        let mut found = false;
        for (name, secret) in &self.users {
            let name_ok = constant_time_eq(name.as_bytes(), user.as_bytes());
            let secret_ok = constant_time_eq(secret.as_bytes(), password.as_bytes());
            found |= name_ok & secret_ok;
        }
        found.then(|| Identity::User(user.to_string()))
    }

    /// The bearer token a Handshake returns: the caller's own token, or a new one for a user.
    pub fn token_for(&self, identity: &Identity, metadata: &MetadataMap) -> Result<Option<String>, Status> {
        match identity {
            Identity::Anonymous => Ok(None),
            Identity::Token => Ok(self.token.clone()),
            Identity::User(user) => {
                let header = metadata.get("authorization").and_then(|h| h.to_str().ok()).unwrap_or("");
                if let Some(("Bearer" | "bearer", token)) = header.split_once(' ') {
                    return Ok(Some(token.trim().to_string()));
                }
                let token = random_token().map_err(|e| Status::internal(format!("cannot make a token: {e}")))?;
                let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
                if issued.len() >= MAX_ISSUED_TOKENS {
                    let now = Instant::now();
                    issued.retain(|_, (_, used)| now.duration_since(*used) <= TOKEN_IDLE_LIFETIME);
                    if issued.len() >= MAX_ISSUED_TOKENS
                        && let Some(oldest) = issued.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
                    {
                        issued.remove(&oldest);
                    }
                }
                issued.insert(token.clone(), (user.clone(), Instant::now()));
                Ok(Some(token))
            }
        }
    }

    /// A tonic interceptor: every call, Handshake included, must carry valid credentials. A client address with
    /// [`MAX_FAILURES`] failed logins in the last [`FAILURE_WINDOW`] is refused without a check.
    pub fn intercept(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(peer) = request.remote_addr().map(|a| a.ip()) else {
            self.check(request.metadata())?;
            return Ok(request);
        };
        self.check_from(peer, request.metadata(), Instant::now())?;
        Ok(request)
    }

    /// [`Auth::check`] for a request from `peer` at `now`, with the bound on failed logins.
    fn check_from(&self, peer: std::net::IpAddr, metadata: &MetadataMap, now: Instant) -> Result<Identity, Status> {
        if !self.is_required() {
            return Ok(Identity::Anonymous);
        }
        {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(times) = failures.get_mut(&peer) {
                while times.front().is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW) {
                    times.pop_front();
                }
                if times.len() >= MAX_FAILURES {
                    let wait =
                        times.front().map_or(FAILURE_WINDOW, |t| FAILURE_WINDOW.saturating_sub(now.duration_since(*t)));
                    return Err(Status::unauthenticated(format!(
                        "too many failed logins from this address: try again in {} s",
                        wait.as_secs().max(1)
                    )));
                }
            }
        }
        let checked = self.check(metadata);
        if checked.is_err() {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if failures.len() >= MAX_FAILING_PEERS && !failures.contains_key(&peer) {
                let quietest = failures.iter().min_by_key(|(_, t)| t.back().copied()).map(|(p, _)| *p);
                if let Some(quietest) = quietest {
                    failures.remove(&quietest);
                }
            }
            failures.entry(peer).or_default().push_back(now);
        }
        checked
    }
}

/// Compares two secrets in time that depends only on their lengths, never on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(std::hint::black_box(x ^ y));
    }
    std::hint::black_box(diff) == 0
}

/// 256 bits from the kernel's random source, as hex.
fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh random handle (prepared statements).
pub fn random_handle() -> std::io::Result<String> {
    random_token()
}

/// Reads a users file: one `name:password` per line; blank lines and `#` comments are skipped. The file must
/// not be readable by group or others, as it holds passwords.
pub fn read_users(path: &Path) -> Result<Vec<(String, String)>, FlightError> {
    let bad = |line: usize, reason: String| FlightError::Users { path: PathBuf::from(path), line, reason };
    let io = |e: std::io::Error| FlightError::Io { path: path.to_path_buf(), source: e };
    let meta = std::fs::metadata(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(bad(
                0,
                format!("mode {:o} lets others read the passwords; run `chmod 600` on it", mode & 0o777),
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, password)) = line.split_once(':') else {
            return Err(bad(i + 1, "expected `name:password`".into()));
        };
        if name.is_empty() || password.is_empty() {
            return Err(bad(i + 1, "user name and password must not be empty".into()));
        }
        if users.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(bad(i + 1, format!("user `{name}` is listed twice")));
        }
        users.push((name.to_string(), password.to_string()));
    }
    if users.is_empty() {
        return Err(bad(0, "no users".into()));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", value.parse().unwrap());
        map
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    /// Regression (second probe, item 11): one client tried 7,302 wrong passwords a second. Now an address gets
    /// ten tries a minute; then even the right password waits.
    #[test]
    fn failed_logins_are_bounded_per_address() {
        let auth = Auth::new(None, vec![("bo".into(), "geheim".into())]);
        let basic = |password: &str| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("bo:{password}"));
            with_header(&format!("Basic {encoded}"))
        };
        let (guesser, other) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let start = Instant::now();
        for i in 0..MAX_FAILURES {
            let refused = auth.check_from(guesser, &basic(&format!("guess{i}")), start).unwrap_err();
            assert!(refused.message().contains("invalid user name or password"), "{refused}");
        }
        let locked = auth.check_from(guesser, &basic("geheim"), start).unwrap_err();
        assert!(locked.message().contains("too many failed logins"), "{locked}");
        assert!(auth.check_from(other, &basic("geheim"), start).is_ok(), "another address is not locked out");
        let later = start + FAILURE_WINDOW;
        assert!(auth.check_from(guesser, &basic("geheim"), later).is_ok(), "a window later the address may try again");
    }

    #[test]
    fn bearer_token_is_checked() {
        let auth = Auth::new(Some("s3cret".into()), vec![]);
        assert_eq!(auth.check(&with_header("Bearer s3cret")).unwrap(), Identity::Token);
        assert_eq!(auth.check(&with_header("bearer  s3cret")).unwrap(), Identity::Token);
        assert!(auth.check(&with_header("Bearer wrong")).is_err());
        assert!(auth.check(&MetadataMap::new()).is_err());
        assert!(auth.check(&with_header("Digest s3cret")).is_err());
    }

    #[test]
    fn basic_credentials_trade_for_a_token_that_then_works() {
        let auth = Auth::new(None, vec![("ana".into(), "pw1".into()), ("bo".into(), "pw2".into())]);
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("bo:pw2"));
        let metadata = with_header(&basic);
        let identity = auth.check(&metadata).unwrap();
        assert_eq!(identity, Identity::User("bo".into()));
        let token = auth.token_for(&identity, &metadata).unwrap().unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(auth.check(&with_header(&format!("Bearer {token}"))).unwrap(), Identity::User("bo".into()));
        let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("bo:pw1"));
        assert!(auth.check(&with_header(&wrong)).is_err());
    }

    #[test]
    fn no_credentials_configured_means_anonymous() {
        let auth = Auth::default();
        assert!(!auth.is_required());
        assert_eq!(auth.check(&MetadataMap::new()).unwrap(), Identity::Anonymous);
    }

    #[test]
    fn users_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "# analysts\nana:pw\nbroken line\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = read_users(&path).unwrap_err().to_string();
        assert!(err.contains(":3:") && err.contains("name:password"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_users(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
