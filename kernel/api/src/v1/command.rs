//! What to run: `CommandInfo` (with fetcher URIs and environment), plus the
//! `Secret` and `Credential` messages that environments and images refer to.
//!
//! Owns only JSON shapes and the proto defaults (`shell` and `extract`
//! default to true). Fetching and launching belong to the agent.

use serde::{Deserialize, Serialize};

use super::encoding::Base64Bytes;

/// `CommandInfo`: the process to start, via `/bin/sh -c` or exec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Files to fetch into the sandbox before starting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Uri>,
    /// Environment variables to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// `true` (the default): run `value` with `/bin/sh -c`, ignoring
    /// `arguments`. `false`: exec `value` with `arguments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    /// The shell command, or the executable when `shell` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// argv (including argv\[0\]) when `shell` is false.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// User to run as; overrides `FrameworkInfo.user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl CommandInfo {
    /// A shell command (`/bin/sh -c value`).
    pub fn shell(value: impl Into<String>) -> Self {
        Self {
            shell: Some(true),
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// `shell`, with the proto default (true) applied.
    pub fn is_shell(&self) -> bool {
        self.shell.unwrap_or(true)
    }
}

/// `CommandInfo.URI`: a file for the fetcher.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Uri {
    /// What to fetch (`http://…`, `hdfs://…`, a local path).
    pub value: String,
    /// chmod +x the fetched file; overrides `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// Extract recognized archives (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Go through the fetcher cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// Name of the local copy, relative to the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

impl Uri {
    /// `extract`, with the proto default (true) applied.
    pub fn extract(&self) -> bool {
        self.extract.unwrap_or(true)
    }

    /// `executable`, with the proto default (false) applied.
    pub fn executable(&self) -> bool {
        self.executable.unwrap_or(false)
    }

    /// `cache`, with the proto default (false) applied.
    pub fn cache(&self) -> bool {
        self.cache.unwrap_or(false)
    }
}

/// `Environment`: `{"variables": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// The variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
}

impl Environment {
    /// Plain `VALUE` variables from `(name, value)` pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            variables: pairs
                .into_iter()
                .map(|(n, v)| Variable::value(n, v))
                .collect(),
        }
    }
}

wire_enum! {
    /// `Environment.Variable.Type`.
    pub enum VariableType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// `value` holds the string (the proto default).
        Value(VALUE = 1),
        /// `secret` holds a secret to resolve.
        Secret(SECRET = 2),
    }
    unknown => Unknown
}

/// `Environment.Variable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    /// Variable name.
    pub name: String,
    /// VALUE (default) or SECRET.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VariableType>,
    /// The value, for VALUE variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The secret, for SECRET variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

impl Variable {
    /// A plain VALUE variable.
    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: None,
            value: Some(value.into()),
            secret: None,
        }
    }
}

wire_enum! {
    /// `Secret.Type`.
    pub enum SecretType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// Resolved by a secret-store module.
        Reference(REFERENCE = 1),
        /// Carried inline.
        Value(VALUE = 2),
    }
    unknown => Unknown
}

/// `Secret`: passed by value or by reference to a secret store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// REFERENCE or VALUE.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SecretType>,
    /// For REFERENCE secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<SecretReference>,
    /// For VALUE secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SecretValue>,
}

/// `Secret.Reference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretReference {
    /// Secret name in the store.
    pub name: String,
    /// Key within the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `Secret.Value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretValue {
    /// The secret bytes (base64 on the wire).
    pub data: Base64Bytes,
}

/// `Credential`: a principal and optional secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Principal.
    pub principal: String,
    /// Secret (password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_defaults() {
        let c: CommandInfo = serde_json::from_str(
            r#"{"value":"sleep 10","uris":[{"value":"http://x/a.tgz"}],
                "environment":{"variables":[{"name":"A","value":"1"}]}}"#,
        )
        .unwrap();
        assert!(c.is_shell());
        assert!(c.uris[0].extract());
        assert!(!c.uris[0].executable());
        assert_eq!(
            c.environment.unwrap().variables[0].value.as_deref(),
            Some("1")
        );
    }

    #[test]
    fn secret_value_is_base64() {
        let s: Secret =
            serde_json::from_str(r#"{"type":"VALUE","value":{"data":"c2VjcmV0"}}"#).unwrap();
        assert_eq!(s.value.unwrap().data.as_bytes(), b"secret");
    }
}
