//! The blocking HTTP client every connector shares, in four parts:
//! `client` sends a request (authentication, retries, the first-connection
//! rule, interrupts, request counting), `pacing` keeps the requests under
//! the account's rate limit, `daily` under its daily limits (a token
//! budget, a reported daily request limit), `error` is what a failed call says, and
//! `vendor_answers` is the seam through which a connector tells the client
//! what its vendor's answers mean. This module knows HTTP, not vendors:
//! paths and JSON shapes belong to the connector that calls it, and what a
//! vendor's answers say about its limits and refusals (header names, a
//! firewall's 403, an error body's message) comes from the connector's
//! `VendorAnswers` (its `limits.rs`).

mod client;
mod daily;
mod error;
mod pacing;
mod vendor_answers;

pub use client::{AuthStyle, HttpClient, Repeat, Reply, RetryPolicy};
pub use daily::TokenCost;
pub use error::ApiError;
pub use pacing::Pacing;
pub use vendor_answers::{
    Role, VendorAnswers, Window, body_snippet, header_number, message_at, retry_after_header,
};

/// Helpers for the vendors' own pacing tests.
#[cfg(test)]
pub(crate) use pacing::tests;
