//! Joining a machine to the cluster through the gateway, without a token:
//!
//! ```text
//! curl -fsSL http://<gateway>/install.sh | sudo bash -s -- --role agent --token <join-token>
//!   GET  /install.sh            the script below, with this gateway's URL filled in
//!   GET  /install/v1/binary     X-Join-Token: <t>  → the dcos binary (streamed)
//!   exec dcos install --role agent --join <gateway> --token <t> …
//!   POST /install/v1/join       {"token","role","hostname"} → masters, marathon, chronos, secret
//! ```
//!
//! The join token is compared in constant time; a wrong one is a 403 that
//! says where to find the right one. Nothing here logs a token.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::auth::constant_time_eq;
use crate::error::GatewayError;
use crate::Gateway;

/// The header that carries the join token on a binary download.
pub const JOIN_TOKEN_HEADER: &str = "x-join-token";

/// Checks a presented join token against the cluster's.
pub fn check_join_token(gw: &Gateway, presented: Option<&str>) -> Result<(), GatewayError> {
    let Some(expected) = gw.cluster.join_token.as_deref() else {
        return Err(GatewayError::Unavailable(
            "this gateway admits no new nodes (it was started without a join token file)".into(),
        ));
    };
    match presented {
        Some(t) if constant_time_eq(t.trim().as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(GatewayError::InvalidJoinToken),
    }
}

/// The gateway URL as the client reached it (`Host`), checked so it can go
/// into a shell script verbatim.
pub fn gateway_url(headers: &HeaderMap) -> Result<String, GatewayError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| GatewayError::BadRequest("the request has no Host header".into()))?;
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok {
        return Err(GatewayError::BadRequest(format!(
            "the Host header {host:?} is not a host name or address"
        )));
    }
    Ok(format!("http://{host}"))
}

/// The join script with the gateway's URL filled in.
pub fn install_script(gateway: &str) -> String {
    INSTALL_SH.replace("@GATEWAY@", gateway)
}

const INSTALL_SH: &str = r#"#!/usr/bin/env bash
# Joins this machine to the dcos cluster behind @GATEWAY@:
#   curl -fsSL @GATEWAY@/install.sh | sudo bash -s -- --role agent --token <join-token> [dcos install flags]
# Downloads the dcos binary from the gateway to ${DCOS_BIN_DIR:-/usr/local/bin}/dcos,
# then runs `dcos install --role <role> --join @GATEWAY@ --token <token> …`.
set -euo pipefail

GATEWAY='@GATEWAY@'
role=agent
token=''
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role="${2:?--role needs agent or master}"; shift 2 ;;
    --role=*) role="${1#*=}"; shift ;;
    --token) token="${2:?--token needs the join token}"; shift 2 ;;
    --token=*) token="${1#*=}"; shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
case "$role" in
  agent|master) ;;
  *) echo "install.sh: --role must be agent or master, not '$role'" >&2; exit 2 ;;
esac
if [ -z "$token" ]; then
  echo "install.sh: --token is required: print it on a master with \`dcos cluster join-token\`" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "install.sh: curl is required" >&2; exit 1; }

bin_dir="${DCOS_BIN_DIR:-/usr/local/bin}"
mkdir -p "$bin_dir"
tmp="$(mktemp "$bin_dir/.dcos.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
status="$(curl -sS -o "$tmp" -w '%{http_code}' -H "X-Join-Token: $token" "$GATEWAY/install/v1/binary")" || {
  echo "install.sh: cannot reach $GATEWAY" >&2; exit 1; }
if [ "$status" != 200 ]; then
  echo "install.sh: the gateway refused the download (HTTP $status): $(head -c 500 "$tmp")" >&2
  exit 1
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$bin_dir/dcos"
trap - EXIT
echo "install.sh: installed $bin_dir/dcos; joining as $role"
exec "$bin_dir/dcos" install --role "$role" --join "$GATEWAY" --token "$token" ${rest[@]+"${rest[@]}"}
"#;

/// `GET /install.sh`.
pub async fn script(headers: HeaderMap) -> Response {
    match gateway_url(&headers) {
        Ok(url) => (
            [(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")],
            install_script(&url),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /install/v1/binary` with `X-Join-Token`: the dcos binary, streamed.
pub async fn binary(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let presented = headers.get(JOIN_TOKEN_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = check_join_token(&gw, presented) {
        return e.into_response();
    }
    let file = match tokio::fs::File::open(&gw.binary).await {
        Ok(f) => f,
        Err(e) => {
            return GatewayError::Internal(format!(
                "cannot open the binary {}: {e}",
                gw.binary.display()
            ))
            .into_response()
        }
    };
    let len = file.metadata().await.map(|m| m.len()).ok();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response();
    if let Some(len) = len {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, len.into());
    }
    resp
}

#[derive(Debug, Deserialize)]
struct JoinRequest {
    token: String,
    role: String,
    #[serde(default)]
    hostname: String,
}

/// `POST /install/v1/join`: what a new node needs to become part of the
/// cluster.
pub async fn join(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let req: JoinRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return GatewayError::BadRequest(format!(
                "the join request must be {{\"token\",\"role\",\"hostname\"}}: {e}"
            ))
            .into_response()
        }
    };
    if let Err(e) = check_join_token(&gw, Some(&req.token)) {
        tracing::warn!(hostname = %req.hostname, role = %req.role, "join refused: wrong join token");
        return e.into_response();
    }
    if req.role != "agent" && req.role != "master" {
        return GatewayError::BadRequest(format!(
            "role must be \"agent\" or \"master\", not {:?}",
            req.role
        ))
        .into_response();
    }
    let gateway = match gateway_url(&headers) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    tracing::info!(hostname = %req.hostname, role = %req.role, "a node joins");
    let up = &gw.upstreams;
    Json(json!({
        "cluster_id": gw.cluster.id,
        "masters": up.masters(),
        "marathon": up.marathons(),
        "chronos": up.chronos_all(),
        "gateway": gateway,
        "secret": gw.cluster.secret,
    }))
    .into_response()
}
