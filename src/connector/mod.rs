//! The seam between the engine and the vendors: this file only declares the
//! parts and connects them (`connect` builds the connector a configured
//! system's kind calls for).
//!
//! - `seam`: the `Connector` trait and the record types that cross it.
//! - `catalog`: what an account says of its fields (for checks and `init`),
//!   the metadata cache, and `MappingMismatch`, the connectors' error for a
//!   mapping that names what the account lacks.
//! - `answers`: from a vendor's answer to one outcome per input
//!   (`match_answers`, `write_outcome`).
//! - `paging`: the one paging loop.
//! - `http`: the shared client (auth, pacing, retries, `ApiError`).
//! - `hubspot`, `pipedrive`: the vendors, which import the parts above and
//!   never this file.
//!
//! Connectors own every vendor URL and JSON shape. They hand the engine plain
//! `Record`s (mapped fields as canonical strings) and take plain writes back;
//! vendor differences such as batch sizes or write rules are the vendor
//! profile's (`crate::vendor`), not branches in the engine. A connector never
//! decides what to write.

pub mod answers;
pub mod catalog;
pub mod http;
pub mod hubspot;
pub mod paging;
pub mod pipedrive;
pub mod seam;

pub use crate::vendor::{Required, WriteRules};
pub use catalog::{
    Dependency, FieldDescription, FieldInfo, FieldType, MappingMismatch, Meaning,
    OptionDescription, OptionSpec, PropertyKind, PropertySpec, SchemaOutcome,
};
pub use seam::{
    Capabilities, Connector, Cost, DailyTokens, Listed, MergeRequest, NewRecord, RecordRef,
    RecordUpdate, StoppedWrite, WriteKind, WriteOutcome, WriteResult,
};

use crate::config::SystemConfig;
use crate::model::ObjectKind;
use crate::vendor::SystemKind;
use anyhow::Result;

/// About what `count` writes of one kind to `object` cost at a vendor, as
/// its connector sends them: requests (HubSpot batches up to its batch
/// size a request, Pipedrive sends one a record) and tokens of a daily
/// budget (Pipedrive's, from its cost table). Static: no request is made,
/// so an offline `diff` estimates too.
pub fn write_cost(kind: SystemKind, object: ObjectKind, write: WriteKind, count: u64) -> Cost {
    match kind {
        SystemKind::Hubspot => {
            let batches = count.div_ceil(crate::vendor::HUBSPOT.max_batch as u64);
            Cost {
                // A merge is one request each; an association change may
                // archive old associations before it adds new ones.
                requests: match write {
                    WriteKind::Merge | WriteKind::Property => count,
                    WriteKind::Associate => 2 * batches,
                    _ => batches,
                },
                tokens: 0,
            }
        }
        SystemKind::Pipedrive => Cost {
            requests: count,
            tokens: count * pipedrive::write_cost(object, write),
        },
    }
}

/// Builds the connectors for configured systems, in order. Every token is
/// read first, so all missing ones are named at once, before any request.
pub fn connect(systems: &[&SystemConfig]) -> Result<Vec<Box<dyn Connector>>> {
    let tokens = crate::config::read_tokens(systems)?;
    systems
        .iter()
        .zip(&tokens)
        .map(|(system, token)| -> Result<Box<dyn Connector>> {
            Ok(match system.kind {
                SystemKind::Hubspot => Box::new(hubspot::HubSpot::new(system, token)?),
                SystemKind::Pipedrive => Box::new(pipedrive::Pipedrive::new(system, token)?),
            })
        })
        .collect()
}
