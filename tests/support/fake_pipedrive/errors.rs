//! `ApiError`: an error answer in Pipedrive's envelopes (v2's schema and
//! validation errors, v1's plain ones, 401, 404, 429).

use super::ERROR_INFO;
use crate::support::server::Response;
use serde_json::{Value, json};

/// An error answer in Pipedrive's envelope.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) body: Value,
}

impl ApiError {
    pub(super) fn envelope(status: u16, error: &str, error_info: &str) -> ApiError {
        ApiError {
            status,
            body: json!({"success": false, "error": error, "error_info": error_info, "data": null, "additional_data": null}),
        }
    }

    /// The v2 schema-validation answer (pipedrive/client-nodejs#651).
    pub(super) fn schema(detail: String) -> ApiError {
        let mut e = ApiError::envelope(400, &format!("Validation failed: {detail}"), ERROR_INFO);
        e.body["code"] = json!("ERR_SCHEMA_VALIDATION_FAILED");
        e
    }

    pub(super) fn validation(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::schema(format!("{field}: {message}"))
    }

    /// A request that passes the schema but not the business rules (a
    /// missing referenced record, a field not allowed in this status).
    pub(super) fn bad_request(message: String) -> ApiError {
        ApiError::envelope(400, &message, ERROR_INFO)
    }

    /// The spec's 404 example.
    pub(super) fn entity_not_found() -> ApiError {
        ApiError::envelope(404, "Entity was not found", "Object was not found.")
    }

    /// Pipedrive's answer to a path it does not serve (UNCONFIRMED wording).
    pub(super) fn unknown_route() -> ApiError {
        ApiError::envelope(404, "Unknown method .", ERROR_INFO)
    }

    pub(super) fn unauthorized() -> ApiError {
        ApiError {
            status: 401,
            body: json!({"success": false, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO}),
        }
    }

    /// The 429 body is not documented
    /// (<https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting>); the usual
    /// envelope with `errorCode` is assumed. No `Retry-After`: current docs
    /// do not promise one, so clients must use `x-ratelimit-reset`.
    pub(super) fn too_many(error: &str) -> ApiError {
        let mut e = ApiError::envelope(429, error, ERROR_INFO);
        e.body["errorCode"] = json!(429);
        e
    }

    pub(super) fn into_response(self) -> Response {
        Response::json(self.status, &self.body)
    }
}
