//! The node's configuration and secrets: `<data-dir>/config.toml` (what
//! runs here, on which ports, talking to which masters) and the secret
//! files (`secrets/cluster-secret`, `secrets/join-token`,
//! `secrets/cluster-id`, `admin-credentials`), all generated once and
//! never regenerated: a second `dcos install` reads them back.
//!
//! Generation is pure over a random source ([`Secrets::generate`] takes
//! the RNG), so tests can pin it; the file writes are the only I/O.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// What this node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A master (store, Mesos master, Marathon, Chronos, gateway) and an
    /// agent on the same machine: the default one-machine cluster.
    MasterAgent,
    /// A master without an agent.
    Master,
    /// An agent only, joined to existing masters.
    Agent,
}

impl Role {
    pub fn runs_master(self) -> bool {
        matches!(self, Role::MasterAgent | Role::Master)
    }

    pub fn runs_agent(self) -> bool {
        matches!(self, Role::MasterAgent | Role::Agent)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::MasterAgent => "master+agent",
            Role::Master => "master",
            Role::Agent => "agent",
        })
    }
}

/// The ports of this node's components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    pub master: u16,
    pub agent: u16,
    pub marathon: u16,
    pub chronos: u16,
    /// Cosmos, the package manager (absent in configs written before it).
    #[serde(default = "default_cosmos_port")]
    pub cosmos: u16,
    pub gateway: u16,
}

fn default_cosmos_port() -> u16 {
    7070
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            master: 5050,
            agent: 5051,
            marathon: 8080,
            chronos: 4400,
            cosmos: default_cosmos_port(),
            gateway: 80,
        }
    }
}

/// `<data-dir>/config.toml`. Unknown fields are refused: a typo in a
/// hand-edited config must not be silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub role: Role,
    pub cluster_id: String,
    /// The address this node's components listen on and advertise.
    pub ip: String,
    /// The `dcos` binary the components run.
    pub binary: PathBuf,
    pub ports: Ports,
    /// Every master of the cluster (`http://ip:port`), this one included
    /// when it is a master.
    pub masters: Vec<String>,
    /// Marathon and Chronos URLs the gateway proxies to.
    pub marathons: Vec<String>,
    pub chronoses: Vec<String>,
    /// The cluster's gateway (the URL users and joining nodes use).
    pub gateway: String,
    /// For an additional master: the store member it joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_join: Option<String>,
    /// Parent cgroup of this node's containers (unique per install, so
    /// uninstall removes exactly ours).
    pub cgroups_root: String,
    /// Agent resources (Mesos syntax); detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<String>,
}

/// Errors reading or writing the config and secret files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// cannot {action} {path}: {source}
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// the config file is not valid
    #[error("{path} is not a valid node config: {message} (fix it, or remove it and run `dcos install` again)")]
    Invalid { path: PathBuf, message: String },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ConfigError + 'a {
    move |source| ConfigError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The files of one data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }
    pub fn cluster_secret(&self) -> PathBuf {
        self.secrets().join("cluster-secret")
    }
    pub fn join_token(&self) -> PathBuf {
        self.secrets().join("join-token")
    }
    pub fn cluster_id(&self) -> PathBuf {
        self.secrets().join("cluster-id")
    }
    pub fn admin_credentials(&self) -> PathBuf {
        self.root.join("admin-credentials")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn log(&self, component: &str) -> PathBuf {
        self.logs().join(format!("{component}.log"))
    }
    pub fn run(&self) -> PathBuf {
        self.root.join("run")
    }
    pub fn pidfile(&self, process: &str) -> PathBuf {
        self.run().join(format!("{process}.pid"))
    }
    pub fn master_dir(&self) -> PathBuf {
        self.root.join("master")
    }
    pub fn agent_dir(&self) -> PathBuf {
        self.root.join("agent")
    }
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<Option<NodeConfig>, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", path)(e)),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })
    }

    pub fn parse(text: &str) -> Result<NodeConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!("# Written by `dcos install`; read by `dcos daemon supervisor`.\n{body}")
    }

    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        write_private(path, &self.to_toml())
    }

    pub fn master_url(&self) -> String {
        format!("http://{}:{}", self.ip, self.ports.master)
    }
}

/// The secrets of a cluster, as generated on its first master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    pub cluster_id: String,
    pub cluster_secret: String,
    pub join_token: String,
    pub admin_uid: String,
    pub admin_password: String,
}

const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn random_string(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A v4 UUID cluster id from `rng`.
fn random_uuid(rng: &mut impl Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

impl Secrets {
    pub fn generate(rng: &mut impl Rng) -> Secrets {
        Secrets {
            cluster_id: random_uuid(rng),
            cluster_secret: random_string(rng, 48),
            join_token: random_string(rng, 32),
            admin_uid: "admin".to_string(),
            admin_password: random_string(rng, 20),
        }
    }

    /// The admin credentials file as the gateway reads it.
    pub fn admin_credentials_text(&self) -> String {
        format!(
            "uid: {}\npassword: {}\n",
            self.admin_uid, self.admin_password
        )
    }

    /// Writes whichever secret files are missing; existing ones are kept
    /// and read back, so the returned secrets are the ones in force.
    /// `with_admin`: also the admin credentials (the first master only: a
    /// joining master's gateway shares the users already in the store).
    pub fn ensure(
        layout: &Layout,
        fresh: Secrets,
        with_admin: bool,
    ) -> Result<Secrets, ConfigError> {
        let dir = layout.secrets();
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod", &dir))?;
        let cluster_id = ensure_file(&layout.cluster_id(), &fresh.cluster_id)?;
        let cluster_secret = ensure_file(&layout.cluster_secret(), &fresh.cluster_secret)?;
        let join_token = ensure_file(&layout.join_token(), &fresh.join_token)?;
        if !with_admin {
            return Ok(Secrets {
                cluster_id,
                cluster_secret,
                join_token,
                admin_uid: String::new(),
                admin_password: String::new(),
            });
        }
        let creds = ensure_file(
            &layout.admin_credentials(),
            fresh.admin_credentials_text().trim_end(),
        )?;
        let (admin_uid, admin_password) =
            parse_admin_credentials(&creds).ok_or_else(|| ConfigError::Invalid {
                path: layout.admin_credentials(),
                message: "expected two lines, `uid: <u>` and `password: <p>`".into(),
            })?;
        Ok(Secrets {
            cluster_id,
            cluster_secret,
            join_token,
            admin_uid,
            admin_password,
        })
    }
}

/// Parses `uid: <u>\npassword: <p>`.
pub fn parse_admin_credentials(text: &str) -> Option<(String, String)> {
    let mut uid = None;
    let mut password = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("uid:") {
            uid = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("password:") {
            password = Some(v.trim().to_string());
        }
    }
    Some((uid?, password?))
}

/// Reads `path` (trimmed) if it exists, else writes `value` there (0600).
pub fn ensure_file(path: &Path, value: &str) -> Result<String, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => Ok(existing.trim().to_string()),
        Ok(_) => {
            write_private(path, &format!("{value}\n"))?;
            Ok(value.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_private(path, &format!("{value}\n"))?;
            Ok(value.to_string())
        }
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Writes a file readable by its owner only (0600), atomically: a
/// temporary file in the same directory renamed over the target.
pub fn write_private(path: &Path, text: &str) -> Result<(), ConfigError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("write", &tmp))?;
    f.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("write", &tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .map_err(io("chmod", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn sample() -> NodeConfig {
        NodeConfig {
            role: Role::MasterAgent,
            cluster_id: "c".into(),
            ip: "127.0.0.1".into(),
            binary: "/usr/local/bin/dcos".into(),
            ports: Ports::default(),
            masters: vec!["http://127.0.0.1:5050".into()],
            marathons: vec!["http://127.0.0.1:8080".into()],
            chronoses: vec!["http://127.0.0.1:4400".into()],
            gateway: "http://127.0.0.1:80".into(),
            store_join: None,
            cgroups_root: "dcos-c".into(),
            resources: None,
        }
    }

    #[test]
    fn config_round_trips_through_toml() {
        let c = sample();
        let text = c.to_toml();
        assert!(text.contains("role = \"master-agent\""), "{text}");
        assert_eq!(NodeConfig::parse(&text).unwrap(), c);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = sample()
            .to_toml()
            .replace("[ports]", "colour = \"red\"\n[ports]");
        let err = NodeConfig::parse(&text).unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let text = sample()
            .to_toml()
            .replace("gateway = 80", "gateway = 80\ngatway = 81");
        assert!(NodeConfig::parse(&text).unwrap_err().contains("gatway"));
    }

    #[test]
    fn secrets_are_random_and_well_formed() {
        let a = Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
        let b = Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(2));
        assert_ne!(a.cluster_secret, b.cluster_secret);
        assert_ne!(a.join_token, b.join_token);
        assert_eq!(a.cluster_id.len(), 36);
        assert_eq!(&a.cluster_id[14..15], "4");
        assert_eq!(a.join_token.len(), 32);
        assert!(a.admin_password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(
            parse_admin_credentials(&a.admin_credentials_text()),
            Some(("admin".into(), a.admin_password.clone()))
        );
    }

    #[test]
    fn secrets_are_written_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let first = Secrets::ensure(
            &layout,
            Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(1)),
            true,
        )
        .unwrap();
        let again = Secrets::ensure(
            &layout,
            Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(2)),
            true,
        )
        .unwrap();
        assert_eq!(first, again, "a second install must not regenerate secrets");
        for p in [
            layout.admin_credentials(),
            layout.cluster_secret(),
            layout.join_token(),
            layout.cluster_id(),
        ] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
}
