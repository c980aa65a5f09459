//! `dcos config set|show|unset|keys`: the attached cluster's settings, in
//! its `dcos.toml` (`$DCOS_DIR/clusters/<id>/dcos.toml`, sections as the
//! DC/OS CLI wrote them), and what every command reads ([`effective`]):
//! the file, overridden by the environment.
//!
//! Environment: `DCOS_CLUSTER` (which configured cluster, by name or id),
//! `DCOS_URL`, `DCOS_ACS_TOKEN`, `DCOS_SSL_VERIFY` (as the DC/OS CLI), and
//! `DCOS_<SECTION>_<KEY>` for any key (`DCOS_CORE_TIMEOUT`,
//! `DCOS_MARATHON_URL`). With `DCOS_URL` set no configured cluster is
//! needed.

use std::collections::BTreeMap;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{self, ApiError};
use crate::output;

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Url,
    Text,
    Seconds,
    /// `true`, `false`, or a path to a CA bundle.
    SslVerify,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Url => "url",
            Kind::Text => "string",
            Kind::Seconds => "integer (seconds)",
            Kind::SslVerify => "true | false | path to CA certificates",
        }
    }

    fn check(self, key: &str, value: &str) -> anyhow::Result<()> {
        match self {
            Kind::Url => anyhow::ensure!(
                value.starts_with("http://") || value.starts_with("https://"),
                "{key} must be an http:// or https:// URL, not {value:?}"
            ),
            Kind::Text => anyhow::ensure!(!value.is_empty(), "{key} must not be empty"),
            Kind::Seconds => anyhow::ensure!(
                value
                    .parse::<u64>()
                    .is_ok_and(|n| (1..=86_400).contains(&n)),
                "{key} must be a whole number of seconds between 1 and 86400, not {value:?}"
            ),
            Kind::SslVerify => anyhow::ensure!(
                value == "true" || value == "false" || std::path::Path::new(value).is_file(),
                "{key} must be true, false or the path of a CA certificates file, not {value:?}"
            ),
        }
        Ok(())
    }
}

/// The keys the CLI reads, as the DC/OS CLI named them.
const KEYS: &[(&str, Kind, &str)] = &[
    ("cluster.name", Kind::Text, "The name `dcos cluster list` shows"),
    ("core.dcos_url", Kind::Url, "The cluster's URL (its gateway)"),
    ("core.dcos_acs_token", Kind::Text, "The login token sent with every request (`dcos auth login` sets it)"),
    ("core.mesos_master_url", Kind::Url, "Where /mesos requests go (default: <dcos_url>/mesos)"),
    ("core.ssl_verify", Kind::SslVerify, "Whether to verify the cluster's TLS certificate (for https URLs)"),
    ("core.timeout", Kind::Seconds, "Seconds a request may take (default 60)"),
    ("job.url", Kind::Url, "The Metronome API the `dcos job` commands use (default: <dcos_url>/service/metronome)"),
    ("marathon.url", Kind::Url, "The Marathon the `dcos marathon` commands use (default: <dcos_url>/service/marathon; e.g. a Marathon installed from the catalog)"),
    ("package.cosmos_url", Kind::Url, "The Cosmos the `dcos package` commands use (default: <dcos_url>)"),
];

fn known(key: &str) -> anyhow::Result<Kind> {
    KEYS.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, kind, _)| *kind)
        .ok_or_else(|| {
            anyhow::anyhow!("unknown property {key:?}: `dcos config keys` lists the ones there are")
        })
}

fn env_name(key: &str) -> String {
    format!("DCOS_{}", key.replace('.', "_").to_uppercase())
}

/// The DC/OS CLI's short names for some keys' variables.
fn env_alias(key: &str) -> Option<&'static str> {
    match key {
        "core.dcos_url" => Some("DCOS_URL"),
        "core.dcos_acs_token" => Some("DCOS_ACS_TOKEN"),
        "core.ssl_verify" => Some("DCOS_SSL_VERIFY"),
        _ => None,
    }
}

/// The value the environment gives `key`, and the variable's name.
fn from_env(key: &str) -> Option<(String, String)> {
    env_alias(key)
        .into_iter()
        .map(str::to_string)
        .chain([env_name(key)])
        .find_map(|name| {
            std::env::var(&name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        })
}

/// The cluster `DCOS_CLUSTER` names, else the attached one.
pub fn selected() -> anyhow::Result<client::Cluster> {
    if let Ok(want) = std::env::var("DCOS_CLUSTER") {
        let all = client::clusters()?;
        return all
            .into_iter()
            .find(|c| c.id == want || c.config.cluster.name == want)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "DCOS_CLUSTER={want}: no such cluster (`dcos cluster list` shows the configured ones)"
                )
            });
    }
    client::attached()
}

/// Flattened `section.key` → value of a config file.
fn flatten(table: &toml::Table) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (section, v) in table {
        if let Some(t) = v.as_table() {
            for (k, v) in t {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(format!("{section}.{k}"), text);
            }
        }
    }
    out
}

fn read_table(c: &client::Cluster) -> anyhow::Result<toml::Table> {
    let path = c.dir.join("dcos.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn write_table(c: &client::Cluster, table: &toml::Table) -> anyhow::Result<()> {
    let text = toml::to_string_pretty(table)?;
    dcos_installer::config::write_private(&c.dir.join("dcos.toml"), &text)?;
    Ok(())
}

/// Every setting in force: the selected cluster's file, then the
/// environment over it.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    values: BTreeMap<String, String>,
    /// Keys whose value came from the environment, and the variable.
    from_env: BTreeMap<String, String>,
}

impl Effective {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// The settings every command reads.
pub fn effective() -> anyhow::Result<Effective> {
    let mut e = Effective::default();
    match selected() {
        Ok(c) => e.values = flatten(&read_table(&c)?),
        // Without a configured cluster, DCOS_URL alone is enough.
        Err(err) if std::env::var_os("DCOS_URL").is_none() => return Err(err),
        Err(_) => {}
    }
    for (key, kind, _) in KEYS {
        if let Some((var, value)) = from_env(key) {
            kind.check(key, &value)
                .map_err(|err| anyhow::anyhow!("{var}: {err}"))?;
            e.values.insert(key.to_string(), value);
            e.from_env.insert(key.to_string(), var);
        }
    }
    if !e.values.contains_key("core.dcos_url") {
        return Err(ApiError::NoCluster.into());
    }
    Ok(e)
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Sets a property of the attached cluster.
    Set { name: String, value: String },
    /// The properties in force (or one of them, printed as is).
    Show {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Removes a property.
    Unset { name: String },
    /// The properties there are, with their types.
    Keys {
        #[arg(long)]
        json: bool,
    },
}

const MASK: &str = "*******";

pub async fn run(cmd: ConfigCmd) -> anyhow::Result<()> {
    match cmd {
        ConfigCmd::Keys { json } => {
            if json {
                let v: Vec<Value> = KEYS
                    .iter()
                    .map(|(k, kind, d)| json!({"name": k, "type": kind.name(), "description": d, "env": env_alias(k).map(str::to_string).unwrap_or_else(|| env_name(k))}))
                    .collect();
                return output::json(&v);
            }
            let rows = KEYS
                .iter()
                .map(|(k, kind, d)| vec![k.to_string(), kind.name().to_string(), d.to_string()])
                .collect();
            output::table(&["PROPERTY", "TYPE", "DESCRIPTION"], rows);
            Ok(())
        }
        ConfigCmd::Show {
            name: Some(name),
            json,
        } => {
            known(&name)?;
            let e = effective()?;
            let value = e.get(&name).ok_or_else(|| {
                anyhow::anyhow!("property {name:?} is not set (`dcos config set {name} <value>`)")
            })?;
            if json {
                return output::json(&json!({ name: value }));
            }
            println!("{value}");
            Ok(())
        }
        ConfigCmd::Show { name: None, json } => {
            let e = effective()?;
            if json {
                let mut m = serde_json::Map::new();
                for (k, v) in &e.values {
                    m.insert(k.clone(), Value::String(v.clone()));
                }
                return output::json(&Value::Object(m));
            }
            let rows = e
                .values
                .iter()
                .map(|(k, v)| {
                    let shown = if k == "core.dcos_acs_token" { MASK } else { v };
                    let source = e
                        .from_env
                        .get(k)
                        .map(|var| format!("(from {var})"))
                        .unwrap_or_default();
                    vec![k.clone(), shown.to_string(), source]
                })
                .collect();
            output::table(&["PROPERTY", "VALUE", ""], rows);
            Ok(())
        }
        ConfigCmd::Set { name, value } => {
            known(&name)?.check(&name, &value)?;
            let c = selected()?;
            let mut table = read_table(&c)?;
            let (section, key) = name.split_once('.').unwrap_or(("core", &name));
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(t) = entry.as_table_mut() else {
                anyhow::bail!("[{section}] in the config file is not a section: fix or remove it");
            };
            let before = t
                .insert(key.to_string(), toml::Value::String(value.clone()))
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                });
            write_table(&c, &table)?;
            let shown = |v: &str| {
                if name == "core.dcos_acs_token" {
                    MASK.to_string()
                } else {
                    v.to_string()
                }
            };
            match before {
                Some(b) => println!(
                    "[{name}]: changed from '{}' to '{}'",
                    shown(&b),
                    shown(&value)
                ),
                None => println!("[{name}]: set to '{}'", shown(&value)),
            }
            if let Some(var) = from_env(&name).map(|(var, _)| var) {
                eprintln!("note: {var} is set and overrides this value");
            }
            Ok(())
        }
        ConfigCmd::Unset { name } => {
            known(&name)?;
            let c = selected()?;
            let mut table = read_table(&c)?;
            let (section, key) = name.split_once('.').unwrap_or(("core", &name));
            let removed = table
                .get_mut(section)
                .and_then(toml::Value::as_table_mut)
                .and_then(|t| t.remove(key));
            anyhow::ensure!(removed.is_some(), "property {name:?} is not set");
            write_table(&c, &table)?;
            println!("[{name}]: removed");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_kind() {
        assert!(known("core.timeout")
            .unwrap()
            .check("core.timeout", "30")
            .is_ok());
        assert!(known("core.timeout")
            .unwrap()
            .check("core.timeout", "soon")
            .is_err());
        assert!(known("marathon.url")
            .unwrap()
            .check("marathon.url", "ftp://x")
            .is_err());
        assert!(known("core.ssl_verify")
            .unwrap()
            .check("core.ssl_verify", "false")
            .is_ok());
        assert!(known("core.ssl_verify")
            .unwrap()
            .check("core.ssl_verify", "/no/such/ca.pem")
            .is_err());
        assert!(known("core.colour").is_err());
        assert_eq!(env_name("core.timeout"), "DCOS_CORE_TIMEOUT");
        assert_eq!(env_alias("core.dcos_url"), Some("DCOS_URL"));
    }

    #[test]
    fn unknown_sections_of_the_file_are_kept() {
        let t: toml::Table = "[core]\ndcos_url = \"http://x\"\n[plugin]\nfoo = 1\n"
            .parse()
            .unwrap();
        let flat = flatten(&t);
        assert_eq!(flat["core.dcos_url"], "http://x");
        assert_eq!(flat["plugin.foo"], "1");
    }
}
