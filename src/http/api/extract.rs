//! The API's own extractors: axum's `Json`, `Path` and `Query` whose refusals are the
//! documented `{"error": …}` JSON with the same status (axum's own are plain text), and the
//! answers for routes and methods that do not exist.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON body; refused with 400 (not JSON), 415 (not `application/json`), 422 (missing,
/// unknown or mistyped fields) or 413 (over the body limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_refusal(&rejection)),
        }
    }
}

fn json_refusal(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match rejection {
        JsonRejection::JsonDataError(e) => {
            format!("the body does not fit this request: {}", source_text(e))
        }
        JsonRejection::JsonSyntaxError(e) => format!("the body is not JSON: {}", source_text(e)),
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with Content-Type: application/json".to_owned()
        }
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
            format!("JSON bodies are limited to {} bytes", super::MAX_JSON_BODY)
        }
        other => other.body_text(),
    };
    ApiError::new(status, message)
}

/// The innermost cause of an extractor error: serde's words, without axum's preamble.
fn source_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Path parameters; refused with 400 when one does not parse (an id that is not a UUID).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_refusal(&rejection)),
        }
    }
}

fn path_refusal(rejection: &PathRejection) -> ApiError {
    let message = match rejection {
        PathRejection::FailedToDeserializePathParams(e) => {
            format!("a part of the path is not valid here: {}", source_text(e))
        }
        other => other.body_text(),
    };
    ApiError::new(rejection.status(), message)
}

/// The query string; refused with 400 when a parameter does not parse.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the query string is not valid here: {}", source_text(&e)),
            )),
            Err(other) => Err(ApiError::new(other.status(), other.body_text())),
        }
    }
}

/// Any path no route serves: 404 in the API's shape.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such route: {method} {}; docs/api.md lists them",
            uri.path()
        ),
    )
}

/// A route that exists, asked with a method it does not take: 405 in the API's shape.
pub async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {method}; docs/api.md lists what it takes",
            uri.path()
        ),
    )
}
