//! Pipedrive notes, on API v1 (there are no v2 notes): listing with
//! `start`/`limit` paging (`additional_data.pagination`), incremental
//! listing with `updated_since`, and reading by id one note at a time.
//! Writes go through `writes` as for the other objects, to `/api/v1/notes`
//! (`PUT` for an update); a note's fields are `fields::NOTE_FIELDS`.
//!
//! `read_notes_page` is pure and unit-tested below without HTTP.
//! https://developers.pipedrive.com/docs/api/v1/Notes

use super::Pipedrive;
use super::api::{Entity, One};
#[cfg(test)]
use super::fields::FieldKind;
use crate::connector::http::ApiError;
use crate::connector::paging::{self, Page};
use crate::connector::seam::{Connector, Listed};
use crate::model::{ObjectKind, Record};
use crate::timestamp;
use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// Where notes are listed, created, updated and deleted.
pub(super) const NOTES_PATH: &str = "/api/v1/notes";
/// Notes a page: the most the v1 lists take.
const NOTES_PAGE: usize = 500;

/// A v1 list answer: `{"data": […], "additional_data": {"pagination":
/// {"start", "limit", "more_items_in_collection", "next_start"}}}`
/// (getNotes).
#[derive(Debug, Deserialize)]
struct NotesPage {
    #[serde(default)]
    data: Option<Vec<Entity>>,
    #[serde(default)]
    additional_data: Option<NotesAdditional>,
}

#[derive(Debug, Deserialize)]
struct NotesAdditional {
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    #[serde(default)]
    more_items_in_collection: Option<bool>,
    #[serde(default)]
    next_start: Option<i64>,
}

impl Pipedrive {
    /// Every note, or those updated at or after `since_ms` (whole seconds,
    /// `updated_since` is inclusive).
    pub(super) fn list_notes(
        &self,
        fields: &[String],
        since_ms: Option<i64>,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let resolved = self.resolve(ObjectKind::Notes, fields)?;
        let mut query = Vec::new();
        if let Some(since) = since_ms {
            let since = &timestamp::format_ms(since.div_euclid(1000) * 1000)[..19];
            query.push(("updated_since", format!("{since}Z")));
        }
        let mut records = Vec::new();
        let fetch = |start: Option<&str>| {
            let mut q = query.clone();
            q.push(("start", start.unwrap_or("0").to_string()));
            q.push(("limit", NOTES_PAGE.to_string()));
            let reply = self.http.get(NOTES_PATH, &q)?;
            read_notes_page(reply.body).map_err(|detail| self.malformed(detail).into())
        };
        paging::pages(self.system(), NOTES_PATH, fetch, &mut |page: Vec<
            Entity,
        >| {
            for note in &page {
                records.push(self.to_record(ObjectKind::Notes, note, &resolved)?);
            }
            progress(Listed::so_far(records.len()));
            Ok(())
        })
        .with_context(|| format!("listing notes from {}", self.system()))?;
        Ok(records)
    }

    /// The notes with these ids that still exist: one `GET` each (getNote;
    /// the list takes no ids). A note that is gone answers 404.
    pub(super) fn read_notes(&self, ids: &[String], fields: &[String]) -> Result<Vec<Record>> {
        let resolved = self.resolve(ObjectKind::Notes, fields)?;
        let mut records = Vec::new();
        for id in ids {
            let note = match self.http.get(&format!("{NOTES_PATH}/{id}"), &[]) {
                Ok(reply) => reply,
                Err(ApiError::Rejected { status: 404, .. }) => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("reading note {id} from {}", self.system()));
                }
            };
            let one: One<Entity> = serde_json::from_value(note.body)
                .map_err(|e| self.malformed(format!("note {id}: {e}")))?;
            // A deleted note may still answer, marked inactive.
            if one.data.rest.get("active_flag") == Some(&Value::Bool(false)) {
                continue;
            }
            records.push(self.to_record(ObjectKind::Notes, &one.data, &resolved)?);
        }
        Ok(records)
    }

    /// Where `object`'s records are created (and, with `/{id}`, updated and
    /// deleted): v2 collections, v1 notes.
    pub(super) fn collection_path(object: ObjectKind) -> Result<String> {
        let collection = Self::collection(object)?;
        Ok(if object == ObjectKind::Notes {
            NOTES_PATH.to_string()
        } else {
            format!("/api/v2/{collection}")
        })
    }
}

/// The fields a note is read with, by name, for tests.
#[cfg(test)]
fn note_fields() -> Vec<(String, FieldKind)> {
    super::fields::NOTE_FIELDS
        .iter()
        .map(|(n, k)| (n.to_string(), k.clone()))
        .collect()
}

/// One page of getNotes: its notes and the `start` of the next page. The
/// spec requires no field of the answer: a page without pagination is the
/// last only when it is short; after a full one the listing may go on, and
/// taking it as whole would read every later note as deleted.
fn read_notes_page(body: Value) -> Result<Page<Entity>, String> {
    let page: NotesPage =
        serde_json::from_value(body).map_err(|e| format!("{NOTES_PATH} page: {e}"))?;
    let items = page.data.unwrap_or_default();
    let pagination = page.additional_data.and_then(|a| a.pagination);
    let next = match pagination {
        Some(Pagination {
            more_items_in_collection: Some(true),
            next_start: Some(next),
        }) => Some(next.to_string()),
        Some(Pagination {
            more_items_in_collection: Some(false),
            ..
        }) => None,
        _ if items.len() < NOTES_PAGE => None,
        _ => {
            return Err(format!(
                "{NOTES_PATH}: a full page came without `more_items_in_collection` and `next_start`, so crmsync cannot tell whether more follow"
            ));
        }
    };
    Ok(Page { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::pipedrive::fields::record_of;
    use serde_json::json;

    #[test]
    fn a_notes_page_reads_its_notes_their_time_and_the_next_start() {
        let answer = json!({
            "success": true,
            "data": [{
                "id": 7, "active_flag": true, "content": "<p>Called</p>",
                "add_time": "2026-11-20 09:30:00", "update_time": "2026-11-23 03:47:22",
                "user_id": 1, "person_id": 12, "deal_id": null, "org_id": null,
            }],
            "additional_data": {"pagination": {"start": 0, "limit": 500, "more_items_in_collection": true, "next_start": 500}},
        });
        let page = read_notes_page(answer).expect("a page");
        assert_eq!(page.next.as_deref(), Some("500"));
        let record = record_of(ObjectKind::Notes, &page.items[0], &note_fields()).expect("a note");
        assert_eq!(record.get("content"), "<p>Called</p>");
        assert_eq!(record.get("add_time"), "2026-11-20T09:30:00Z");
        assert_eq!(record.get("person_id"), "12");
        assert_eq!(record.get("deal_id"), "");
        assert_eq!(
            record.updated_ms,
            timestamp::parse_ms("2026-11-23T03:47:22Z").expect("a time")
        );
    }

    #[test]
    fn a_last_notes_page_says_so_and_a_full_page_without_pagination_is_refused() {
        let last = json!({"data": [], "additional_data": {"pagination": {"more_items_in_collection": false}}});
        assert!(read_notes_page(last).is_ok_and(|p| p.next.is_none()));
        let notes: Vec<Value> = (1..=NOTES_PAGE as i64)
            .map(|id| json!({"id": id, "update_time": "2026-11-23 03:47:22"}))
            .collect();
        let full = read_notes_page(json!({ "data": notes }));
        assert!(full.is_err_and(|e| e.contains("cannot tell whether more follow")));
    }
}
