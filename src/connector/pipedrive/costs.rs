//! What each Pipedrive request crmsync can send costs of the company's
//! daily token budget: one table, by method and path, taken from the
//! `x-token-cost` of each operation in Pipedrive's OpenAPI specs (v2 for
//! records, fields, stages and pipelines; v1 for users, saved filters,
//! merges and notes, whose list operations cost twice their v2
//! counterparts), and what a planned write will cost, from the same table. Pure: it sends nothing and
//! keeps no count (the HTTP client counts what is spent).
//!
//! Rate limiting and the budget: <https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting>;
//! per-operation costs: <https://developers.pipedrive.com/docs/api/v1>.

use crate::connector::seam::WriteKind;
use crate::model::ObjectKind;

/// (method, path, tokens, the spec's operations). A `{}` segment stands for
/// any one segment (a record id, a field code); the first row that fits
/// wins, so the specific rows come first.
const COSTS: &[(&str, &str, u64, &str)] = &[
    // API v2: search (crmsync reads whole lists instead, which is cheaper).
    (
        "GET",
        "/api/v2/{}/search",
        20,
        "searchPersons, searchDeals, searchOrganization",
    ),
    // API v2: records, and likewise the fields of each object
    // (getPersonFields 10, getPersonField 1, addPersonField 5, …).
    (
        "GET",
        "/api/v2/{}",
        10,
        "getPersons, getDeals, getOrganizations",
    ),
    (
        "GET",
        "/api/v2/{}/{}",
        1,
        "getPerson, getDeal, getOrganization",
    ),
    (
        "POST",
        "/api/v2/{}",
        5,
        "addPerson, addDeal, addOrganization",
    ),
    (
        "PATCH",
        "/api/v2/{}/{}",
        5,
        "updatePerson, updateDeal, updateOrganization",
    ),
    (
        "DELETE",
        "/api/v2/{}/{}",
        3,
        "deletePerson, deleteDeal, deleteOrganization",
    ),
    // API v2: the options of a custom field.
    (
        "POST",
        "/api/v2/{}/{}/options",
        5,
        "addPersonFieldOptions, addDealFieldOptions, addOrganizationFieldOptions",
    ),
    // API v1: users, saved filters (a pair's scope), merges, notes.
    ("GET", "/api/v1/users", 20, "getUsers"),
    ("GET", "/api/v1/filters/{}", 2, "getFilter"),
    (
        "PUT",
        "/api/v1/{}/{}/merge",
        40,
        "mergePersons, mergeDeals, mergeOrganizations",
    ),
    ("GET", "/api/v1/notes", 20, "getNotes"),
    ("GET", "/api/v1/notes/{}", 2, "getNote"),
    ("POST", "/api/v1/notes", 10, "addNote"),
    ("PUT", "/api/v1/notes/{}", 10, "updateNote"),
    ("DELETE", "/api/v1/notes/{}", 6, "deleteNote"),
];

/// The v2 collections whose list costs less than a list of records:
/// getStages and getPipelines cost 5.
const CHEAPER_LISTS: &[(&str, u64)] = &[("stages", 5), ("pipelines", 5)];

/// The most any request in the table costs: charged for a request missing
/// from it, so an unlisted request can never slip past a `daily_tokens` cap.
pub const MOST: u64 = 40;

/// The tokens one request costs, by method and path (ids in the path as
/// sent or folded to `{id}`); `None` for a request the table lacks.
pub fn token_cost(method: &str, path: &str) -> Option<u64> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    if method == "GET"
        && let ["", "api", "v2", collection] = segments.as_slice()
        && let Some((_, cost)) = CHEAPER_LISTS.iter().find(|(c, _)| c == collection)
    {
        return Some(*cost);
    }
    COSTS
        .iter()
        .filter(|(m, _, _, _)| *m == method)
        .find(|(_, pattern, _, _)| matches(pattern, &segments))
        .map(|(_, _, cost, _)| *cost)
}

/// Returns true if and only if `segments` fit `pattern` segment for
/// segment, `{}` fitting any non-empty one.
fn matches(pattern: &str, segments: &[&str]) -> bool {
    let wanted: Vec<&str> = pattern.split('/').collect();
    wanted.len() == segments.len()
        && wanted
            .iter()
            .zip(segments)
            .all(|(w, s)| *w == *s || (*w == "{}" && !s.is_empty()))
}

/// The tokens one write of `object` costs, as the connector sends it: one
/// request per record.
pub fn write_cost(object: ObjectKind, write: WriteKind) -> u64 {
    let collection = object.as_str();
    let (method, path) = match write {
        WriteKind::Create => ("POST", format!("/api/v2/{collection}")),
        WriteKind::Update | WriteKind::Associate => ("PATCH", format!("/api/v2/{collection}/1")),
        WriteKind::Delete => ("DELETE", format!("/api/v2/{collection}/1")),
        WriteKind::Merge => ("PUT", format!("/api/v1/{collection}/1/merge")),
        // A field created (addPersonField …) or given options
        // (addPersonFieldOptions …) costs the same.
        // (An object without a fields API takes none: the dearest.)
        WriteKind::Property => match super::Pipedrive::fields_path(object) {
            Some(path) => ("POST", path.to_string()),
            None => return MOST,
        },
    };
    token_cost(method, &path).unwrap_or(MOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_crmsync_sends_has_its_spec_cost() {
        let costs = [
            ("GET", "/api/v2/persons", 10),
            ("GET", "/api/v2/deals", 10),
            ("GET", "/api/v2/organizations", 10),
            ("GET", "/api/v2/persons/12", 1),
            ("POST", "/api/v2/persons", 5),
            ("PATCH", "/api/v2/deals/{id}", 5),
            ("DELETE", "/api/v2/organizations/7", 3),
            ("GET", "/api/v2/personFields", 10),
            ("GET", "/api/v2/dealFields", 10),
            ("GET", "/api/v2/organizationFields", 10),
            ("POST", "/api/v2/personFields", 5),
            ("POST", "/api/v2/dealFields/a1b2c3/options", 5),
            ("GET", "/api/v2/stages", 5),
            ("GET", "/api/v2/pipelines", 5),
            ("GET", "/api/v1/users", 20),
            ("GET", "/api/v1/filters/7", 2),
            ("PUT", "/api/v1/persons/{id}/merge", 40),
            ("PUT", "/api/v1/organizations/3/merge", 40),
            ("GET", "/api/v1/notes", 20),
            ("POST", "/api/v1/notes", 10),
            ("PUT", "/api/v1/notes/4", 10),
            ("DELETE", "/api/v1/notes/4", 6),
        ];
        for (method, path, cost) in costs {
            assert_eq!(token_cost(method, path), Some(cost), "{method} {path}");
        }
        assert_eq!(token_cost("GET", "/api/v2/persons/search"), Some(20));
        assert_eq!(token_cost("GET", "/api/v1/persons/search"), None);
    }

    #[test]
    fn a_planned_write_costs_what_its_request_does() {
        assert_eq!(write_cost(ObjectKind::Persons, WriteKind::Create), 5);
        assert_eq!(write_cost(ObjectKind::Deals, WriteKind::Property), 5);
        assert_eq!(write_cost(ObjectKind::Deals, WriteKind::Associate), 5);
        assert_eq!(write_cost(ObjectKind::Organizations, WriteKind::Delete), 3);
        assert_eq!(write_cost(ObjectKind::Persons, WriteKind::Merge), 40);
    }
}
