//! Test support: the HTTP server core, the stateful fake HubSpot and
//! Pipedrive accounts built on it with the calendar they share, the demo's
//! accounts, the fixture builder that starts accounts by name and writes a
//! mapping file for them, and the harness that runs the real binary against
//! them (also on a pseudo-terminal). Shared by the integration tests, the
//! demo and the benchmark.

#![allow(dead_code)]

pub mod accounts;
pub mod calendar;
pub mod demo_accounts;
pub mod fake_hubspot;
pub mod fake_pipedrive;
pub mod harness;
pub mod server;
pub mod terminal;
