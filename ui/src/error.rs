//! [`GatewayError`]: every error the gateway itself answers, as DC/OS
//! IAM's JSON shape `{"title","description","code"}` with a precise status.
//! The description says what to do; it never repeats a credential.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::upstream::UpstreamError;
use crate::users::UserError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The join token in a join or binary request is wrong or missing.
    #[error(
        "the join token is wrong; print the right one on a master with `dcos cluster join-token`"
    )]
    InvalidJoinToken,
    #[error("{0}")]
    BadRequest(String),
    #[error("user with uid `{0}` not known")]
    UnknownUser(String),
    #[error("user with uid `{0}` already exists")]
    UserExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    GatewayTimeout(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            GatewayError::Auth(AuthError::InvalidCredentials) => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "ERR_INVALID_CREDENTIALS",
            ),
            GatewayError::Auth(AuthError::Hash(_)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "ERR_INTERNAL",
            ),
            GatewayError::Auth(e) => (StatusCode::UNAUTHORIZED, "Unauthorized", e.code()),
            GatewayError::InvalidJoinToken => {
                (StatusCode::FORBIDDEN, "Forbidden", "ERR_INVALID_JOIN_TOKEN")
            }
            GatewayError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, "Bad Request", "ERR_INVALID_DATA")
            }
            GatewayError::UnknownUser(_) => {
                (StatusCode::NOT_FOUND, "Not Found", "ERR_UNKNOWN_USER_ID")
            }
            GatewayError::UserExists(_) => (StatusCode::CONFLICT, "Conflict", "ERR_USER_EXISTS"),
            GatewayError::NotFound(_) => (StatusCode::NOT_FOUND, "Not Found", "ERR_NOT_FOUND"),
            GatewayError::BadGateway(_) => (StatusCode::BAD_GATEWAY, "Bad Gateway", "ERR_UPSTREAM"),
            GatewayError::GatewayTimeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway Timeout",
                "ERR_UPSTREAM_TIMEOUT",
            ),
            GatewayError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "ERR_UNAVAILABLE",
            ),
            GatewayError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "ERR_INTERNAL",
            ),
        }
    }
}

impl From<UpstreamError> for GatewayError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::UnknownService(_) | UpstreamError::UnknownAgent(_) => {
                GatewayError::NotFound(e.to_string())
            }
            UpstreamError::NoLeader(_)
            | UpstreamError::NoMarathon
            | UpstreamError::NoChronos
            | UpstreamError::NoCosmos => GatewayError::Unavailable(e.to_string()),
            UpstreamError::Backend(_) => GatewayError::BadGateway(e.to_string()),
        }
    }
}

impl From<UserError> for GatewayError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Auth(a) => GatewayError::Auth(a),
            UserError::NotFound(uid) => GatewayError::UnknownUser(uid),
            UserError::Exists(uid) => GatewayError::UserExists(uid),
            UserError::InvalidUid(_) | UserError::EmptyPassword => {
                GatewayError::BadRequest(e.to_string())
            }
            UserError::Store(_) => GatewayError::Unavailable(e.to_string()),
            UserError::Corrupt { .. } => GatewayError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, title, code) = self.parts();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = json!({ "title": title, "description": self.to_string(), "code": code });
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // What DC/OS' Admin Router answers, so clients know to log in.
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("acsjwt"));
        }
        resp
    }
}
