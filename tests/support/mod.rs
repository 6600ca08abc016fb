//! Test support: the HTTP server core, the stateful fake HubSpot and
//! Pipedrive accounts built on it, and the harness that runs the real binary
//! against them. Shared by the integration tests, the demo and the benchmark.

#![allow(dead_code)]

pub mod calendar;
pub mod fake_hubspot;
pub mod fake_pipedrive;
pub mod harness;
pub mod server;
