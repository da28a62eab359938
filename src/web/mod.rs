//! The web kit shared by the gate's and the district's HTTP sides: security
//! headers, cookie and bearer parsing, HTML escaping, safe redirects, the
//! login limiter, the password-hashing worker and the cross-origin check.
//!
//! Nothing here knows a daemon's state: each piece takes headers, text or
//! its own small settings, so either side can use it as it is.

pub mod credentials;
pub mod escape;
pub mod headers;
pub mod limiter;
pub mod multipart;
pub mod origin;
pub mod passwords;
pub mod refusal;

pub use credentials::{bearer_token, cookie_value, session_cookie, BearerError};
pub use escape::{html_escape, safe_next, url_encode};
pub use headers::{page_headers, PAGE_CSP};
pub use limiter::LoginLimiter;
pub use origin::{csrf_guard, CsrfPolicy};
pub use passwords::PasswordWorker;
pub use refusal::Refusal;

/// Longest user name accepted at login (bytes). Names are chosen by the
/// committee; anything longer is refused before any work is done.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest password accepted at login (bytes): argon2 would take more, but
/// nobody types more, and a megabyte password is an attack.
pub const MAX_PASSWORD_BYTES: usize = 256;
