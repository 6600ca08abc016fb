//! Query parameters, sorting and cursor paging: parameters checked against
//! the operation's list (documented ones the fake does not model are refused
//! with a 400), sorts with ties broken by id, and opaque base64url cursors.

use super::errors::ApiError;
use super::render::View;
use super::store::{Pipeline, Record, Stage};
use super::time::parse_rfc3339;
use super::{DEFAULT_LIMIT, MAX_CUSTOM_FIELD_KEYS, MAX_IDS, MAX_LIMIT};
use crate::support::server::Request;
use serde_json::{Value, json};

/// Documented parameters the fake does not model; refused with a 400 that
/// says so, rather than silently ignored.
pub(super) const UNMODELLED_PARAMS: &[&str] = &["include_fields", "include_labels"];

/// The query string of one request, checked against the operation's parameters.
pub(super) struct Params<'a> {
    pub(super) request: &'a Request,
}

impl<'a> Params<'a> {
    /// Refuses unknown and repeated parameters.
    pub(super) fn new(request: &'a Request, allowed: &[&str]) -> Result<Params<'a>, ApiError> {
        for (i, (name, _)) in request.query.iter().enumerate() {
            if UNMODELLED_PARAMS.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "{name}: documented parameter not modelled by the crmsync fake"
                )));
            }
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::validation(
                    name,
                    format!("Parameter '{name}' is not allowed for this request"),
                ));
            }
            if request.query[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::validation(name, "Parameter must be given once"));
            }
        }
        Ok(Params { request })
    }

    pub(super) fn str(&self, name: &str) -> Option<&'a str> {
        self.request.query_param(name)
    }

    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::validation(name, "Expected 'integer'"))
            })
            .transpose()
    }

    pub(super) fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.str(name)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::validation(name, "Expected 'boolean'")),
            })
            .transpose()
    }

    pub(super) fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| parse_rfc3339(v).map_err(|e| ApiError::validation(name, e)))
            .transpose()
    }

    /// A comma list whose items must all be in `allowed`.
    pub(super) fn list_of(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<Vec<&'static str>>, ApiError> {
        self.str(name)
            .map(|v| {
                v.split(',')
                    .map(|item| {
                        allowed
                            .iter()
                            .find(|a| **a == item)
                            .copied()
                            .ok_or_else(|| {
                                ApiError::validation(
                                    name,
                                    format!("Expected one of '{}'", allowed.join("', '")),
                                )
                            })
                    })
                    .collect()
            })
            .transpose()
    }

    pub(super) fn id_list(&self, name: &str) -> Result<Option<Vec<i64>>, ApiError> {
        let Some(v) = self.str(name) else {
            return Ok(None);
        };
        let ids = v
            .split(',')
            .map(|id| {
                id.parse()
                    .map_err(|_| ApiError::validation(name, "Expected comma separated integers"))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        if ids.len() > MAX_IDS {
            return Err(ApiError::validation(
                name,
                format!("At most {MAX_IDS} ids are allowed"),
            ));
        }
        Ok(Some(ids))
    }

    pub(super) fn limit(&self) -> Result<usize, ApiError> {
        match self.str("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                Ok(_) => Err(ApiError::validation(
                    "limit",
                    format!("Parameter 'limit' must be between 1 and {MAX_LIMIT}"),
                )),
                Err(_) => Err(ApiError::validation("limit", "Expected 'integer'")),
            },
        }
    }

    /// A single value out of `allowed`.
    pub(super) fn one_of(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        match self.list_of(name, allowed)?.as_deref() {
            None => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some(_) => Err(ApiError::validation(name, "Expected a single value")),
        }
    }

    pub(super) fn sort(&self, fields: &[&'static str]) -> Result<Sort, ApiError> {
        Ok(Sort {
            field: self.one_of("sort_by", fields)?.unwrap_or("id"),
            descending: self.one_of("sort_direction", &["asc", "desc"])? == Some("desc"),
        })
    }

    /// A cursor must have come from a page of the same sort.
    pub(super) fn cursor(&self, sort: &Sort) -> Result<Option<Cursor>, ApiError> {
        let Some(raw) = self.str("cursor") else {
            return Ok(None);
        };
        let invalid = || ApiError::validation("cursor", "Invalid cursor");
        let decoded: Value = base64url_decode(raw)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(invalid)?;
        let field_ok = decoded["field"] == json!(sort.field);
        let direction_ok = decoded["sortDirection"] == json!(sort.direction());
        match (decoded["fieldValue"].as_i64(), decoded["id"].as_i64()) {
            (Some(key), Some(id)) if field_ok && direction_ok => Ok(Some(Cursor { key, id })),
            _ => Err(invalid()),
        }
    }

    /// One page of `items` in `sort` order, from `cursor`, at most `limit`:
    /// the ids on the page and the next page's cursor (`None` at the end).
    /// The cursor is base64url JSON shaped like the spec's example cursor.
    pub(super) fn page<T: Sortable>(
        &self,
        sort: &Sort,
        items: impl IntoIterator<Item = T>,
    ) -> Result<(Vec<i64>, Option<String>), ApiError> {
        let limit = self.limit()?;
        let cursor = self.cursor(sort)?;
        let mut keys: Vec<(i64, i64)> = items
            .into_iter()
            .map(|i| (i.sort_key(sort.field), i.id()))
            .collect();
        keys.sort_unstable();
        if sort.descending {
            keys.reverse();
        }
        let start = cursor.map_or(0, |c| {
            let at = (c.key, c.id);
            keys.iter()
                .position(|k| if sort.descending { *k <= at } else { *k >= at })
                .unwrap_or(keys.len())
        });
        let end = (start + limit).min(keys.len());
        let page = keys[start..end].iter().map(|(_, id)| *id).collect();
        let next = keys.get(end).map(|(key, id)| {
            let cursor = json!({"field": sort.field, "fieldValue": key, "sortDirection": sort.direction(), "id": id});
            base64url_encode(cursor.to_string().as_bytes())
        });
        Ok((page, next))
    }

    /// `custom_fields` (at most 15 keys) and `include_option_labels`.
    pub(super) fn view(&self) -> Result<View, ApiError> {
        let custom_keys = match self.str("custom_fields") {
            None => None,
            Some(v) => {
                let keys: Vec<String> = v.split(',').map(str::to_string).collect();
                if keys.len() > MAX_CUSTOM_FIELD_KEYS {
                    return Err(ApiError::validation(
                        "custom_fields",
                        format!("A maximum of {MAX_CUSTOM_FIELD_KEYS} keys is allowed"),
                    ));
                }
                Some(keys)
            }
        };
        Ok(View {
            custom_keys,
            option_labels: self.bool("include_option_labels")?.unwrap_or(false),
        })
    }
}

/// The order of a listing. Ties on the sort field are broken by id, so
/// paging stays exact when many records share an `update_time`.
pub(super) struct Sort {
    pub(super) field: &'static str,
    pub(super) descending: bool,
}

impl Sort {
    /// Search results and field lists: in the fake's own order.
    pub(super) fn rank() -> Sort {
        Sort {
            field: "rank",
            descending: false,
        }
    }

    pub(super) fn direction(&self) -> &'static str {
        if self.descending { "desc" } else { "asc" }
    }
}

/// Something a listing can be ordered by.
pub(super) trait Sortable {
    fn id(&self) -> i64;
    /// The value of the sort field (`id` for any field the item lacks).
    fn sort_key(&self, field: &str) -> i64;
}

impl<T: Sortable> Sortable for &T {
    fn id(&self) -> i64 {
        (*self).id()
    }

    fn sort_key(&self, field: &str) -> i64 {
        (*self).sort_key(field)
    }
}

impl Sortable for Record {
    fn id(&self) -> i64 {
        self.id
    }

    fn sort_key(&self, field: &str) -> i64 {
        match field {
            "update_time" => self.update_time,
            "add_time" => self.add_time,
            _ => self.id,
        }
    }
}

impl Sortable for Pipeline {
    fn id(&self) -> i64 {
        self.id
    }

    fn sort_key(&self, field: &str) -> i64 {
        match field {
            "update_time" | "add_time" => self.created,
            _ => self.id,
        }
    }
}

impl Sortable for Stage {
    fn id(&self) -> i64 {
        self.id
    }

    fn sort_key(&self, field: &str) -> i64 {
        match field {
            "update_time" | "add_time" => self.created,
            "order_nr" => self.order_nr,
            _ => self.id,
        }
    }
}

/// A position in a `Sort::rank()` listing.
impl Sortable for i64 {
    fn id(&self) -> i64 {
        *self
    }

    fn sort_key(&self, _: &str) -> i64 {
        *self
    }
}

/// The first item of the next page, as `(sort key, id)`.
pub(super) struct Cursor {
    pub(super) key: i64,
    pub(super) id: i64,
}

pub(super) const BASE64URL: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
pub(super) fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(BASE64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub(super) fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = BASE64URL.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
