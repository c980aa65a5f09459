//! The one HTTP error of the Cosmos API: Cosmos' shape
//! `{"type", "message", "data"?}` with the media type
//! `application/vnd.dcos.package.error+json;charset=utf-8;version=v1`,
//! its error type names and status codes, made from every error the
//! crate's modules return.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::catalog::{CatalogError, LookupError};
use crate::fetch::FetchError;
use crate::marathon::MarathonError;
use crate::render::RenderError;

/// The error media type.
pub const ERROR_MEDIA_TYPE: &str =
    "application/vnd.dcos.package.error+json;charset=utf-8;version=v1";

/// A Cosmos error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CosmosError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Cosmos' error type (`PackageNotFound`, `not_valid`, …).
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
    /// Details (`{"errors": [...]}` for schema mismatches, …).
    pub data: Option<Value>,
}

impl CosmosError {
    /// A 400 of this type.
    pub fn bad(kind: &str, message: impl Into<String>, data: Option<Value>) -> Self {
        CosmosError {
            status: StatusCode::BAD_REQUEST,
            kind: kind.to_string(),
            message: message.into(),
            data,
        }
    }

    /// With another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The body.
    pub fn body(&self) -> Value {
        let mut b = json!({"type": self.kind, "message": self.message});
        if let Some(d) = &self.data {
            b["data"] = d.clone();
        }
        b
    }
}

impl IntoResponse for CosmosError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, ERROR_MEDIA_TYPE)],
            self.body().to_string(),
        )
            .into_response()
    }
}

impl From<FetchError> for CosmosError {
    fn from(e: FetchError) -> Self {
        match &e {
            FetchError::Unsupported { uri, .. } => CosmosError::bad(
                "UnsupportedRepositoryUri",
                e.to_string(),
                Some(json!({"uri": uri})),
            ),
            FetchError::Connection { uri, cause } => CosmosError::bad(
                "RepositoryUriConnection",
                e.to_string(),
                Some(json!({"uri": uri, "cause": cause})),
            ),
            FetchError::Format { uri, cause } => CosmosError::bad(
                "RepositoryUriSyntax",
                e.to_string(),
                Some(json!({"uri": uri, "cause": cause.to_string()})),
            ),
        }
    }
}

impl From<CatalogError> for CosmosError {
    fn from(e: CatalogError) -> Self {
        let message = e.to_string();
        match e {
            CatalogError::Store(_) | CatalogError::Contended => {
                CosmosError::bad("ServiceUnavailable", message, None)
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            CatalogError::Corrupt(_) => CosmosError::bad("StorageError", message, None)
                .with_status(StatusCode::INTERNAL_SERVER_ERROR),
            CatalogError::Repository { repository, source } => {
                let mut err = CosmosError::from(source);
                if let Some(Value::Object(d)) = &mut err.data {
                    d.insert("repository".into(), json!(repository));
                }
                err
            }
            CatalogError::NameOrUriMissing => {
                CosmosError::bad("RepoNameOrUriMissing", message, None)
            }
            CatalogError::AlreadyPresent { name, uri } => CosmosError::bad(
                "RepositoryAlreadyPresent",
                message,
                Some(json!({"name": name, "uri": uri})),
            ),
            CatalogError::NotPresent { name, uri } => CosmosError::bad(
                "RepositoryNotPresent",
                message,
                Some(json!({"name": name, "uri": uri})),
            ),
            CatalogError::IndexOutOfBounds { attempted, max } => CosmosError::bad(
                "RepositoryAddIndexOutOfBounds",
                message,
                Some(json!({"attempted": attempted, "max": max})),
            ),
            CatalogError::EmptyName => CosmosError::bad("RepositoryNameEmpty", message, None),
        }
    }
}

impl From<LookupError> for CosmosError {
    fn from(e: LookupError) -> Self {
        let message = e.to_string();
        match e {
            LookupError::PackageNotFound(name) => CosmosError::bad(
                "PackageNotFound",
                message,
                Some(json!({"packageName": name})),
            ),
            LookupError::VersionNotFound { name, version } => CosmosError::bad(
                "VersionNotFound",
                message,
                Some(json!({"packageName": name, "packageVersion": version})),
            ),
            LookupError::Catalog(c) => c.into(),
        }
    }
}

impl From<RenderError> for CosmosError {
    fn from(e: RenderError) -> Self {
        let message = e.to_string();
        match e {
            RenderError::Schema(errors) => {
                // The shape of Cosmos' (json-schema-validator) reports, so
                // the DC/OS CLI prints each with its path.
                let errors: Vec<Value> = errors
                    .iter()
                    .map(|v| {
                        json!({
                            "level": "error",
                            "domain": "validation",
                            "instance": {"pointer": v.path},
                            "keyword": v.rule,
                            "message": v.message,
                        })
                    })
                    .collect();
                CosmosError::bad(
                    "JsonSchemaMismatch",
                    message,
                    Some(json!({ "errors": errors })),
                )
            }
            RenderError::OptionsNotAllowed => CosmosError::bad("OptionsNotAllowed", message, None),
            RenderError::NoTemplate(_) => {
                CosmosError::bad("ServiceMarathonTemplateNotFound", message, None)
            }
            RenderError::MissingValue { name, line } => CosmosError::bad(
                "MarathonTemplateMissingValue",
                message,
                Some(json!({"name": name, "line": line})),
            ),
            RenderError::Template(_) => CosmosError::bad("MarathonTemplateInvalid", message, None),
            RenderError::NotAnObject(_) => {
                CosmosError::bad("MarathonTemplateMustBeJsonObject", message, None)
            }
            RenderError::Format(f) => {
                CosmosError::bad("PackageFileSchemaMismatch", f.to_string(), None)
            }
        }
    }
}

impl From<MarathonError> for CosmosError {
    fn from(e: MarathonError) -> Self {
        let message = e.to_string();
        match e {
            MarathonError::Unavailable(_) => CosmosError::bad("ServiceUnavailable", message, None)
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
            MarathonError::AlreadyExists => {
                CosmosError::bad("PackageAlreadyInstalled", message, None)
                    .with_status(StatusCode::CONFLICT)
            }
            MarathonError::NotFound(id) => {
                CosmosError::bad("MarathonAppNotFound", message, Some(json!({"appId": id})))
            }
            MarathonError::Refused {
                status, details, ..
            } => {
                let data = details.map(|d| json!({"errors": d}));
                let err = CosmosError::bad("MarathonBadResponse", message, data);
                if status >= 500 {
                    err.with_status(StatusCode::BAD_GATEWAY)
                } else {
                    err
                }
            }
        }
    }
}
