//! Routing, auth and limits: which method and path is which operation
//! (numbered `/crm/v3`, `/crm/v4` paths and unknown date versions are 404),
//! the token and its scopes, the ten-secondly and secondly (search) rate
//! limits with their headers, and the dispatch of each route to its handler.
//! The operations themselves live in their own files.

use super::store::{Answer, DEALS, HubSpotState, Kind};
use super::{AUTH_MESSAGE, SCOPES_MESSAGE, SEARCH_PER_SECOND, VERSIONS};
use crate::support::calendar;
use crate::support::server::{Request, Response};
use serde_json::json;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub(super) enum Route {
    List(Kind),
    Get(Kind, String),
    Read(Kind),
    Write(Kind, WriteOp),
    Archive(Kind),
    Search(Kind),
    Merge(Kind),
    Properties(Kind),
    Property(Kind, String),
    PropertyGroups(Kind),
    CreateProperty(Kind),
    UpdateProperty(Kind, String),
    Owners,
    Pipelines,
    /// Associations from the first kind's records to the second's.
    Associations(Kind, Kind, AssocOp),
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum WriteOp {
    Create,
    Update,
    Upsert,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum AssocOp {
    Read,
    Create,
    Archive,
}

pub(super) fn parse_route(req: &Request) -> Option<Route> {
    // `/crm/owners/2026-09/` is not the schema's `/crm/owners/2026-09`.
    if req.path.len() > 1 && req.path.ends_with('/') {
        return None;
    }
    let segments = req.segments();
    let ["crm", api, version, rest @ ..] = segments.as_slice() else {
        return None;
    };
    if !VERSIONS.contains(version) {
        return None;
    }
    let route = match (req.method.as_str(), *api, rest) {
        ("GET", "objects", [t]) => Route::List(Kind::parse(t)?),
        ("POST", "objects", [t, "search"]) => Route::Search(Kind::parse(t)?),
        ("POST", "objects", [t, "merge"]) => Route::Merge(Kind::parse(t)?),
        ("POST", "objects", [t, "batch", op]) => {
            let kind = Kind::parse(t)?;
            match *op {
                "read" => Route::Read(kind),
                "create" => Route::Write(kind, WriteOp::Create),
                "update" => Route::Write(kind, WriteOp::Update),
                "upsert" => Route::Write(kind, WriteOp::Upsert),
                "archive" => Route::Archive(kind),
                _ => return None,
            }
        }
        ("GET", "objects", [t, id]) => Route::Get(Kind::parse(t)?, id.to_string()),
        ("GET", "properties", [t]) => Route::Properties(Kind::parse(t)?),
        ("GET", "properties", [t, "groups"]) => Route::PropertyGroups(Kind::parse(t)?),
        ("GET", "properties", [t, name]) => Route::Property(Kind::parse(t)?, name.to_string()),
        ("POST", "properties", [t]) => Route::CreateProperty(Kind::parse(t)?),
        ("PATCH", "properties", [t, name]) if *name != "groups" => {
            Route::UpdateProperty(Kind::parse(t)?, name.to_string())
        }
        ("GET", "owners", []) => Route::Owners,
        ("GET", "pipelines", ["deals"]) => Route::Pipelines,
        ("POST", "associations", [from, to, "batch", op @ ..]) => {
            let (from, to) = (Kind::parse(from)?, Kind::parse(to)?);
            if from == to {
                return None;
            }
            let op = match op {
                ["read"] => AssocOp::Read,
                ["associate", "default"] => AssocOp::Create,
                ["archive"] => AssocOp::Archive,
                _ => return None,
            };
            Route::Associations(from, to, op)
        }
        _ => return None,
    };
    Some(route)
}

impl Route {
    /// Scopes the token must hold, all of them.
    pub(super) fn scopes(&self) -> Vec<&'static str> {
        match self {
            Route::List(k) | Route::Get(k, _) | Route::Search(k) | Route::Read(k) => {
                vec![k.info().read_scope]
            }
            Route::Write(k, _) | Route::Archive(k) | Route::Merge(k) => {
                vec![k.info().write_scope]
            }
            Route::Properties(k) | Route::Property(k, _) | Route::PropertyGroups(k) => {
                vec![k.info().schema_scope]
            }
            Route::CreateProperty(k) | Route::UpdateProperty(k, _) => {
                vec![k.info().schema_write_scope]
            }
            Route::Owners => vec!["crm.objects.owners.read"],
            Route::Pipelines => vec![DEALS.schema_scope],
            Route::Associations(from, to, AssocOp::Read) => {
                vec![from.info().read_scope, to.info().read_scope]
            }
            Route::Associations(from, to, _) => {
                vec![from.info().write_scope, to.info().write_scope]
            }
        }
    }
}

pub(super) fn handle(state: &mut HubSpotState, req: &Request) -> Response {
    let Some(route) = parse_route(req) else {
        state
            .unknown_routes
            .push(format!("{} {}", req.method, req.path));
        let message = format!("No API matches {} {}", req.method, req.path);
        return state.error(404, "OBJECT_NOT_FOUND", &message);
    };
    let expected = format!("Bearer {}", state.token);
    if req.header("authorization") != Some(expected.as_str()) {
        return state.error(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE);
    }
    let response = match state.serve(route, req) {
        Ok(response) => response,
        Err(f) => state.error(f.status(), f.category, &f.message),
    };
    let headers = state.limits.headers();
    headers
        .into_iter()
        .fold(response, |r, (name, value)| r.with_header(name, value))
}

impl HubSpotState {
    pub(super) fn serve(&mut self, route: Route, req: &Request) -> Answer {
        if let Some((policy, message)) = self.limits.admit(matches!(route, Route::Search(_))) {
            let body = json!({
                "status": "error", "message": message, "errorType": "RATE_LIMIT",
                "correlationId": self.correlation_id(), "policyName": policy,
            });
            let response = Response::json(429, &body);
            return Ok(match self.limits.retry_after {
                Some(seconds) => response.with_header("Retry-After", seconds.to_string()),
                None => response,
            });
        }
        let required = route.scopes();
        if required
            .iter()
            .any(|s| !self.scopes.iter().any(|held| held == s))
        {
            let body = json!({
                "status": "error", "message": SCOPES_MESSAGE, "correlationId": self.correlation_id(),
                "errors": [{
                    "message": "One or more of the following scopes are required.",
                    "context": { "requiredGranularScopes": required },
                }],
                "links": { "scopes": "https://developers.hubspot.com/scopes" },
                "category": "MISSING_SCOPES",
            });
            return Ok(Response::json(403, &body));
        }
        match route {
            Route::List(kind) => self.list(kind, req),
            Route::Get(kind, id) => self.get_one(kind, &id, req),
            Route::Read(kind) => self.batch_read(kind, req),
            Route::Write(kind, op) => self.batch_write(kind, op, req),
            Route::Archive(kind) => self.batch_archive(kind, req),
            Route::Search(kind) => Ok(Response::json(200, &self.search(kind, &req.json()?)?)),
            Route::Merge(kind) => self.merge_endpoint(kind, req),
            Route::Properties(kind) => Ok(Response::json(200, &self.properties_json(kind))),
            Route::Property(kind, name) => self.property_answer(kind, &name),
            Route::PropertyGroups(kind) => Ok(Response::json(200, &self.groups_json(kind))),
            Route::CreateProperty(kind) => self.create_property(kind, &req.json()?),
            Route::UpdateProperty(kind, name) => self.update_property(kind, &name, &req.json()?),
            Route::Owners => self.list_owners(req),
            Route::Pipelines => Ok(Response::json(200, &self.pipelines_json())),
            Route::Associations(from, to, AssocOp::Read) => self.read_associations(from, to, req),
            Route::Associations(from, to, op) => self.change_associations(from, to, op, req),
        }
    }
}

/// The ten-secondly, secondly (search) and daily limits.
pub(super) struct Limits {
    pub(super) max: u32,
    pub(super) interval: Duration,
    pub(super) window: VecDeque<Instant>,
    pub(super) search_window: VecDeque<Instant>,
    pub(super) retry_after: Option<u64>,
    pub(super) rejected: usize,
    /// The daily limit, what was used of it, and the UTC day it counts.
    pub(super) daily: u64,
    pub(super) daily_used: u64,
    pub(super) day: i64,
}

impl Limits {
    /// Counts the request, or returns the (policy, message) that refuses it.
    /// Refused requests are not counted: HubSpot does not say whether they are.
    pub(super) fn admit(&mut self, search: bool) -> Option<(&'static str, &'static str)> {
        let now = Instant::now();
        prune(&mut self.window, now, self.interval);
        prune(&mut self.search_window, now, Duration::from_secs(1));
        self.roll_day();
        let refused = if self.daily_used >= self.daily {
            Some(("DAILY", "You have reached your daily limit."))
        } else if self.window.len() >= self.max as usize {
            Some((
                "TEN_SECONDLY_ROLLING",
                "You have reached your ten_secondly_rolling limit.",
            ))
        } else if search && self.search_window.len() >= SEARCH_PER_SECOND {
            Some(("SECONDLY", "You have reached your secondly limit."))
        } else {
            None
        };
        if refused.is_some() {
            self.rejected += 1;
            return refused;
        }
        // Searches also count against the ten-secondly limit (the stricter reading).
        self.window.push_back(now);
        if search {
            self.search_window.push_back(now);
        }
        self.daily_used += 1;
        None
    }

    /// A new UTC day starts the daily count from nothing.
    pub(super) fn roll_day(&mut self) {
        let today = calendar::day_of(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        );
        if today != self.day {
            self.day = today;
            self.daily_used = 0;
        }
    }

    /// The ten-secondly window's headers and the daily limit's
    /// (`X-HubSpot-RateLimit-Daily`, `-Daily-Remaining`: "the number of API
    /// requests still allowed for the current day").
    pub(super) fn headers(&self) -> [(&'static str, String); 5] {
        let remaining = (self.max as usize).saturating_sub(self.window.len());
        [
            ("X-HubSpot-RateLimit-Max", self.max.to_string()),
            ("X-HubSpot-RateLimit-Remaining", remaining.to_string()),
            (
                "X-HubSpot-RateLimit-Interval-Milliseconds",
                self.interval.as_millis().to_string(),
            ),
            ("X-HubSpot-RateLimit-Daily", self.daily.to_string()),
            (
                "X-HubSpot-RateLimit-Daily-Remaining",
                self.daily.saturating_sub(self.daily_used).to_string(),
            ),
        ]
    }
}

pub(super) fn prune(window: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= span)
    {
        window.pop_front();
    }
}
