//! How an HTTP call failed as a whole (`ApiError`) and the few words that
//! describe a transport failure. It owns the error's text, which names what
//! to fix; it sends nothing and decides no retry (the client does), and it
//! chooses no exit code (`exit.rs` maps `ApiError` to one).

use std::fmt;

/// How an API call failed as a whole. Per-record rejections inside a
/// successful batch are not `ApiError`s; connectors report them per record.
#[derive(Debug)]
pub enum ApiError {
    /// 401: the token is wrong or revoked.
    Unauthorized {
        system: String,
        /// The environment variable the token came from.
        variable: String,
        message: String,
    },
    /// 403: the token lacks a scope (or the vendor blocked us).
    Forbidden { system: String, message: String },
    /// 429s outlasted the retries.
    RateLimited { system: String, detail: String },
    /// A daily limit stops the run: the request would cross the system's
    /// `daily_tokens` or dip into its daily reserve (and was not sent), or
    /// the vendor answered that its daily budget is spent.
    DailyLimit { system: String, message: String },
    /// 5xx, timeouts or connection failures outlasted the retries (or could
    /// not be retried safely).
    Unavailable { system: String, detail: String },
    /// The system's first request could not connect (refused, no such
    /// host, TLS failure): most likely a wrong `base_url`.
    Unreachable {
        system: String,
        base_url: String,
        /// The mapping file that names the URL.
        file: String,
        detail: String,
    },
    /// Any other 4xx: the request itself was refused.
    Rejected {
        system: String,
        status: u16,
        message: String,
    },
    /// A success status with a body we cannot read.
    Malformed { system: String, detail: String },
    /// A signal asked the run to stop before this request was sent (or
    /// sent again): `maybe_applied` when an earlier attempt may have
    /// reached the server (a retried 5xx or timeout), false when nothing
    /// was sent or the server surely acted on none (429s).
    Interrupted {
        system: String,
        maybe_applied: bool,
        cause: crate::interrupt::Interrupted,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized {
                system,
                variable,
                message,
            } => write!(
                f,
                "{system}: the token in {variable} was rejected (401: {message}); check that {variable} (token_env of [systems.{system}]) holds a valid, unrevoked access token"
            ),
            ApiError::Forbidden { system, message } => write!(
                f,
                "{system}: access denied (403: {message}); grant the missing scope to the app behind the token (see README, Quick start)"
            ),
            ApiError::RateLimited { system, detail } => write!(
                f,
                "{system}: rate limit still exceeded after retrying ({detail}); try again later or lower requests_per_10s"
            ),
            ApiError::DailyLimit { system, message } => write!(f, "{system}: {message}"),
            ApiError::Unavailable { system, detail } => {
                write!(
                    f,
                    "{system}: service unavailable ({detail}); try again later"
                )
            }
            ApiError::Unreachable {
                system,
                base_url,
                file,
                detail,
            } => write!(
                f,
                "cannot connect to {system} at {base_url} ({detail}): check base_url in [systems.{system}] of {file}"
            ),
            ApiError::Rejected {
                system,
                status,
                message,
            } => {
                write!(f, "{system}: request refused ({status}: {message})")
            }
            ApiError::Malformed { system, detail } => write!(
                f,
                "{system}: unreadable response ({detail}); the API may have changed: report it with -v output"
            ),
            ApiError::Interrupted {
                system,
                maybe_applied,
                ..
            } => {
                if *maybe_applied {
                    write!(f, "{system}: stopped before retrying a request")
                } else {
                    write!(f, "{system}: stopped before sending a request")
                }
            }
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Interrupted { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

pub(super) fn describe_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        // Only the kind: reqwest's Display can include the URL, never a header.
        let mut text = e.to_string();
        if let Some(source) = std::error::Error::source(e) {
            text = format!("{text}: {source}");
        }
        text
    }
}

/// Why a connection could not be made, in a few words: refused, a DNS or a
/// TLS failure, or else the innermost cause.
pub(super) fn describe_connect_error(e: &reqwest::Error) -> String {
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        causes.push(cause);
        next = cause.source();
    }
    // An I/O error may wrap another (hyper wraps rustls' InvalidData in an
    // Other), and its `source` skips the wrapped one: look inside too.
    let io_kind = |kind| {
        causes.iter().any(|c| {
            let mut io = c.downcast_ref::<std::io::Error>();
            while let Some(error) = io {
                if error.kind() == kind {
                    return true;
                }
                io = error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<std::io::Error>());
            }
            false
        })
    };
    let innermost = causes
        .last()
        .map_or_else(|| e.to_string(), ToString::to_string);
    if io_kind(std::io::ErrorKind::ConnectionRefused) {
        "connection refused".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if causes.iter().any(|c| c.to_string().contains("dns error")) {
        let reason = innermost.trim_start_matches("failed to lookup address information: ");
        format!("DNS lookup failed: {reason}")
    } else if io_kind(std::io::ErrorKind::InvalidData) {
        // rustls reports a failed handshake as invalid data.
        format!("TLS handshake failed: {innermost}")
    } else {
        innermost
    }
}
