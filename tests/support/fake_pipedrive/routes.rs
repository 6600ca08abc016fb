//! Routing, auth and rate limits: which method and path is which operation
//! and the query parameters it takes (any other path is an unknown route),
//! the API token, the burst limit with its headers, and the dispatch of each
//! route to its operation, whose answer it wraps in the success envelope.
//! The operations themselves live in their own files.

use super::entities::Entity;
use super::errors::ApiError;
use super::merges::merge_with_id;
use super::metadata::render_user;
use super::notes::NoteRoute;
use super::paging::Params;
use super::records::request_body;
use super::render::View;
use super::store::PipedriveState;
use crate::support::calendar;
use crate::support::server::{Request, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One operation of the API surface the fake serves.
#[derive(Clone, Copy, Debug)]
pub(super) enum Route {
    List(Entity),
    Create(Entity),
    Get(Entity, i64),
    Update(Entity, i64),
    Delete(Entity, i64),
    Fields(Entity),
    /// `POST /api/v2/{personFields|dealFields|organizationFields}`.
    CreateField(Entity),
    /// `POST …Fields/{field_code}/options` (the code is read from the path).
    AddFieldOptions(Entity),
    Pipelines,
    Stages,
    Users,
    /// `GET /api/v1/filters/{id}` (v1 getFilter; v2 has no filters API).
    Filter(i64),
    /// `PUT /api/v1/{persons|organizations|deals}/{id}/merge` (v1 has no
    /// replacement in v2).
    Merge(Entity, i64),
    /// `/api/v1/notes[/{id}]` (notes have no v2).
    Notes(NoteRoute),
}

impl Route {
    /// Anything else (including every deprecated `/v1/persons…`,
    /// `/api/v1/deals…` path and a non-numeric id) is an unknown route.
    pub(super) fn parse(method: &str, path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.split('/').collect();
        let route = match (method, segments.as_slice()) {
            ("GET", ["", "api", "v1", "users"]) => Route::Users,
            (method, ["", "api", "v1", "notes", rest @ ..]) => {
                Route::Notes(NoteRoute::parse(method, rest)?)
            }
            ("GET", ["", "api", "v1", "filters", id]) => {
                Route::Filter(id.parse().ok().filter(|id: &i64| *id > 0)?)
            }
            ("PUT", ["", "api", "v1", collection, id, "merge"]) => {
                let entity = Entity::from_collection(collection)?;
                Route::Merge(entity, id.parse().ok().filter(|id: &i64| *id > 0)?)
            }
            ("GET", ["", "api", "v2", "pipelines"]) => Route::Pipelines,
            ("GET", ["", "api", "v2", "stages"]) => Route::Stages,
            (method, ["", "api", "v2", collection, rest @ ..]) => {
                if let Some(entity) = Entity::from_fields_collection(collection) {
                    return match (method, rest) {
                        ("GET", []) => Some(Route::Fields(entity)),
                        ("POST", []) => Some(Route::CreateField(entity)),
                        ("POST", [_, "options"]) => Some(Route::AddFieldOptions(entity)),
                        _ => None,
                    };
                }
                let entity = Entity::from_collection(collection)?;
                match (method, rest) {
                    ("GET", []) => Route::List(entity),
                    ("POST", []) => Route::Create(entity),
                    (method, [id]) => {
                        let id: i64 = id.parse().ok().filter(|id: &i64| *id > 0)?;
                        match method {
                            "GET" => Route::Get(entity, id),
                            "PATCH" => Route::Update(entity, id),
                            "DELETE" => Route::Delete(entity, id),
                            _ => return None,
                        }
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(route)
    }

    /// The operation's `x-token-cost` in the specs (v2; v1 for users and
    /// merges): what it takes of the company's daily budget.
    pub(super) fn token_cost(self) -> u64 {
        match self {
            Route::List(_) | Route::Fields(_) => 10,
            Route::Get(..) => 1,
            Route::Create(_) | Route::Update(..) => 5,
            // addPersonField, addPersonFieldOptions (and the deal's and
            // organization's).
            Route::CreateField(_) | Route::AddFieldOptions(_) => 5,
            Route::Delete(..) => 3,
            Route::Pipelines | Route::Stages => 5,
            Route::Users => 20,
            // v1 getFilter.
            Route::Filter(_) => 2,
            // v1 getNotes, addNote, getNote, updateNote, deleteNote.
            Route::Notes(NoteRoute::List) => 20,
            Route::Notes(NoteRoute::Create) | Route::Notes(NoteRoute::Update(_)) => 10,
            Route::Notes(NoteRoute::Get(_)) => 2,
            Route::Notes(NoteRoute::Delete(_)) => 6,
            Route::Merge(..) => 40,
        }
    }

    /// The query parameters the operation takes (spec), less the ones in
    /// `UNMODELLED_PARAMS`.
    pub(super) fn params(self) -> Vec<&'static str> {
        const PAGING: &[&str] = &["limit", "cursor"];
        const SORTING: &[&str] = &["sort_by", "sort_direction"];
        const VIEW: &[&str] = &["custom_fields", "include_option_labels"];
        const LIST: &[&str] = &["filter_id", "ids", "updated_since", "updated_until"];
        match self {
            Route::List(e) => [
                PAGING,
                SORTING,
                VIEW,
                LIST,
                e.equality_filters(),
                e.special_list_filters(),
            ]
            .concat(),
            Route::Get(..) => VIEW.to_vec(),
            Route::Create(_)
            | Route::Update(..)
            | Route::Delete(..)
            | Route::Users
            | Route::Filter(_)
            | Route::CreateField(_)
            | Route::AddFieldOptions(_)
            | Route::Merge(..) => Vec::new(),
            Route::Notes(note) => note.params(),
            Route::Fields(_) => PAGING.to_vec(),
            Route::Pipelines => [PAGING, SORTING].concat(),
            Route::Stages => [PAGING, SORTING, &["pipeline_id"]].concat(),
        }
    }
}

/// The server's handler: auth, then rate limits, then the operation; every
/// response carries the rate-limit headers.
pub(super) fn handle(state: &mut PipedriveState, request: &Request) -> Response {
    let now = Instant::now();
    let route = Route::parse(&request.method, &request.path);
    let today = state.today();
    let response = if !state.authorized(request) {
        ApiError::unauthorized().into_response()
    } else if let Err(limited) = state.limits.admit(route, now, today) {
        limited
    } else if let Some(route) = route {
        state
            .dispatch(route, request)
            .unwrap_or_else(ApiError::into_response)
    } else {
        state
            .unknown_routes
            .push(format!("{} {}", request.method, request.path));
        ApiError::unknown_route().into_response()
    };
    state.limits.add_headers(response, now, today)
}

impl PipedriveState {
    /// Only the `x-api-token` header authenticates. The legacy `api_token`
    /// query parameter is refused as unauthorized even when its value is
    /// right: whether v2 still accepts it is not documented
    /// (<https://pipedrive.readme.io/docs/core-api-concepts-authentication>),
    /// so a client relying on it must fail here.
    pub(super) fn authorized(&self, request: &Request) -> bool {
        request.query_param("api_token").is_none()
            && request.header("x-api-token") == Some(self.token.as_str())
    }

    pub(super) fn dispatch(
        &mut self,
        route: Route,
        request: &Request,
    ) -> Result<Response, ApiError> {
        if let Route::Notes(note) = route {
            let body = self.notes_route(note, request)?;
            return Ok(Response::json(200, &body));
        }
        let params = Params::new(request, &route.params())?;
        let body = match route {
            Route::Notes(_) => unreachable!("answered above"),
            Route::List(entity) => self.list(entity, &params)?,
            Route::Get(entity, id) => {
                let view = params.view()?;
                json!({"success": true, "data": self.render(entity, self.live(entity, id)?, &view)})
            }
            Route::Create(entity) => {
                let id = self.write(entity, None, &request_body(request)?, "API")?;
                self.write_response(entity, id)
            }
            Route::Update(entity, id) => {
                self.write(entity, Some(id), &request_body(request)?, "API")?;
                self.write_response(entity, id)
            }
            Route::Delete(entity, id) => {
                self.delete(entity, id)?;
                json!({"success": true, "data": {"id": id}})
            }
            Route::Fields(entity) => self.fields(entity, &params)?,
            Route::CreateField(entity) => self.create_field(entity, &request_body(request)?)?,
            Route::AddFieldOptions(entity) => {
                let code = request.path.rsplit('/').nth(1).unwrap_or_default();
                self.add_field_options(entity, code, &request_body(request)?)?
            }
            Route::Pipelines => self.pipelines(&params)?,
            Route::Stages => self.stages(&params)?,
            Route::Users => {
                json!({"success": true, "data": self.users.iter().map(render_user).collect::<Vec<_>>()})
            }
            Route::Filter(id) => {
                let filter = self
                    .filters
                    .get(&id)
                    .ok_or_else(ApiError::entity_not_found)?;
                json!({"success": true, "data": {
                    "id": id,
                    "name": filter.name,
                    "active_flag": true,
                    "type": filter.entity.filter_type(),
                    "conditions": {"glue": "and", "conditions": []},
                }})
            }
            Route::Merge(entity, id) => {
                let merge_with_id = merge_with_id(&request_body(request)?)?;
                let survivor = self.merge(entity, id, merge_with_id)?;
                self.merge_response(entity, survivor, id)
            }
        };
        // The v2 spec documents 200 for POST too (addPerson, addDeal).
        Ok(Response::json(200, &body))
    }

    pub(super) fn write_response(&self, entity: Entity, id: i64) -> Value {
        let record = &self.table(entity).rows[&id];
        json!({"success": true, "data": self.render(entity, record, &View::default())})
    }
}

/// A rolling-window request counter.
pub(super) struct Bucket {
    pub(super) max: u32,
    pub(super) window: Duration,
    pub(super) admitted: VecDeque<Instant>,
}

impl Bucket {
    pub(super) fn new(max: u32, window: Duration) -> Bucket {
        Bucket {
            max,
            window,
            admitted: VecDeque::new(),
        }
    }

    pub(super) fn forget_expired(&mut self, now: Instant) {
        while self
            .admitted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.admitted.pop_front();
        }
    }

    pub(super) fn has_room(&mut self, now: Instant) -> bool {
        self.forget_expired(now);
        self.admitted.len() < self.max as usize
    }

    pub(super) fn remaining(&self) -> u32 {
        self.max.saturating_sub(self.admitted.len() as u32)
    }

    /// Whole seconds (rounded up) until the oldest request leaves the window.
    pub(super) fn reset_secs(&self, now: Instant) -> u64 {
        self.admitted.front().map_or(0, |oldest| {
            let left = self.window.saturating_sub(now.duration_since(*oldest));
            left.as_millis().div_ceil(1000) as u64
        })
    }
}

pub(super) struct Limits {
    pub(super) burst: Bucket,
    pub(super) rejected: usize,
    /// The company's daily token budget, shared by every token.
    pub(super) budget: Budget,
}

/// The company's daily API token budget
/// (<https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting>):
/// 30,000 base tokens × the plan's multiplier × seats, spent by every
/// request at its operation's `x-token-cost`; "once the daily budget is
/// fully depleted, all further API requests will be rejected with a 429
/// … until the budget resets the following day".
pub(super) struct Budget {
    pub(super) tokens: u64,
    pub(super) day: i64,
    pub(super) spent: u64,
    /// Answers leave out the `x-daily-ratelimit-token-*` headers (which
    /// Pipedrive does not document, and which are missing from some of its
    /// answers).
    pub(super) without_headers: bool,
}

impl Budget {
    /// The spend of `today`: a new day starts from nothing.
    fn roll(&mut self, today: i64) {
        if today != self.day {
            self.day = today;
            self.spent = 0;
        }
    }

    fn left(&self) -> u64 {
        self.tokens.saturating_sub(self.spent)
    }
}

impl Limits {
    /// Counts an authenticated request against the burst window and the
    /// daily budget, or answers 429. Only admitted requests fill the window
    /// and spend tokens; unknown routes fill the window and cost nothing.
    /// A request costing more than is left of the budget is refused (the
    /// docs only say "fully depleted"; the stricter reading).
    pub(super) fn admit(
        &mut self,
        route: Option<Route>,
        now: Instant,
        today: i64,
    ) -> Result<(), Response> {
        if !self.burst.has_room(now) {
            self.rejected += 1;
            return Err(ApiError::too_many("Request over limit").into_response());
        }
        self.budget.roll(today);
        let cost = route.map_or(0, Route::token_cost);
        if cost > self.budget.left() {
            self.rejected += 1;
            // Pipedrive's 2015 docs promised `Retry-After` on a 429; the
            // budget is back at the next midnight (UTC here: the docs say
            // "server's timezone" without naming it).
            let wall = super::store::wall_secs();
            let now = wall + (today - calendar::day_of(wall)) * DAY_SECS;
            let wait = (today + 1) * DAY_SECS - now;
            return Err(ApiError::too_many("Daily API token budget exhausted")
                .into_response()
                .with_header("Retry-After", wait.max(1).to_string()));
        }
        self.burst.admitted.push_back(now);
        self.budget.spent += cost;
        Ok(())
    }

    /// `x-ratelimit-*` describe the token's burst window
    /// (<https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting>);
    /// `x-daily-ratelimit-token-*` the company's budget, as live answers
    /// carry them.
    pub(super) fn add_headers(&mut self, response: Response, now: Instant, today: i64) -> Response {
        let bucket = &mut self.burst;
        bucket.forget_expired(now);
        let (limit, remaining, reset) = (bucket.max, bucket.remaining(), bucket.reset_secs(now));
        let response = response
            .with_header("x-ratelimit-limit", limit.to_string())
            .with_header("x-ratelimit-remaining", remaining.to_string())
            .with_header("x-ratelimit-reset", reset.to_string());
        self.budget.roll(today);
        if self.budget.without_headers {
            return response;
        }
        response
            .with_header(
                "x-daily-ratelimit-token-limit",
                self.budget.tokens.to_string(),
            )
            .with_header(
                "x-daily-ratelimit-token-remaining",
                self.budget.left().to_string(),
            )
    }
}

const DAY_SECS: i64 = calendar::SECONDS_PER_DAY;
