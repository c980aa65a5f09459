//! The node's components as processes: for a [`NodeConfig`], which
//! `dcos daemon …` command lines run here, in which order, and the URL
//! that says each is healthy. Pure: the supervisor, the systemd units and
//! `dcos status` all read this one list.

use std::path::PathBuf;

use crate::config::{Layout, NodeConfig};
use crate::preflight::PortUse;

/// One supervised process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `master`, `agent`, `marathon`, `chronos`, `cosmos`, `gateway`.
    pub name: &'static str,
    pub binary: PathBuf,
    pub args: Vec<String>,
    /// GET this; a 2xx means healthy.
    pub health_url: String,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Component {
    /// The command line as one string (for logs and unit files).
    pub fn command_line(&self) -> String {
        std::iter::once(self.binary.display().to_string())
            .chain(self.args.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// The components of this node, in start order (the master first: the
/// others need its store; the gateway last: it fronts them all).
pub fn components(cfg: &NodeConfig, layout: &Layout) -> Vec<Component> {
    let ip = &cfg.ip;
    let masters = cfg.masters.join(",");
    let mut out = Vec::new();
    let comp = |name, args: Vec<String>, port: u16, path: &str| Component {
        name,
        binary: cfg.binary.clone(),
        args,
        health_url: format!("http://{ip}:{port}{path}"),
        env: vec![
            ("DCOS_LOG".into(), "info,openraft=warn,sqlx=warn".into()),
            (
                crate::process::NODE_ENV.into(),
                layout.root.display().to_string(),
            ),
        ],
    };
    if cfg.role.runs_master() {
        let mut args = vec![
            s("daemon"),
            s("master"),
            s("--data-dir"),
            layout.master_dir().display().to_string(),
            s("--listen"),
            format!("{ip}:{}", cfg.ports.master),
        ];
        if let Some(j) = &cfg.store_join {
            args.extend([s("--join"), j.clone()]);
        }
        out.push(comp("master", args, cfg.ports.master, "/health"));
    }
    if cfg.role.runs_agent() {
        let mut args = vec![
            s("daemon"),
            s("agent"),
            s("--master"),
            masters.clone(),
            s("--listen"),
            format!("{ip}:{}", cfg.ports.agent),
            s("--work-dir"),
            layout.agent_dir().display().to_string(),
            s("--cgroups-root"),
            cfg.cgroups_root.clone(),
        ];
        if let Some(r) = &cfg.resources {
            args.extend([s("--resources"), r.clone()]);
        }
        out.push(comp("agent", args, cfg.ports.agent, "/health"));
    }
    if cfg.role.runs_master() {
        out.push(comp(
            "marathon",
            vec![
                s("daemon"),
                s("marathon"),
                s("--master"),
                masters.clone(),
                s("--listen"),
                format!("{ip}:{}", cfg.ports.marathon),
            ],
            cfg.ports.marathon,
            "/ping",
        ));
        out.push(comp(
            "chronos",
            vec![
                s("daemon"),
                s("chronos"),
                s("--master"),
                masters.clone(),
                s("--listen"),
                format!("{ip}:{}", cfg.ports.chronos),
            ],
            cfg.ports.chronos,
            "/ping",
        ));
        // Cosmos installs through Marathon (every one: a standby proxies)
        // and unpacks the built-in catalog under its data dir.
        out.push(comp(
            "cosmos",
            vec![
                s("daemon"),
                s("cosmos"),
                s("--master"),
                masters.clone(),
                s("--marathon"),
                cfg.marathons.join(","),
                s("--listen"),
                format!("{ip}:{}", cfg.ports.cosmos),
                s("--data-dir"),
                layout.root.join("cosmos").display().to_string(),
            ],
            cfg.ports.cosmos,
            "/capabilities",
        ));
        let mut args = vec![
            s("daemon"),
            s("gateway"),
            s("--listen"),
            format!("{ip}:{}", cfg.ports.gateway),
            s("--data-dir"),
            layout.root.display().to_string(),
        ];
        for m in &cfg.masters {
            args.extend([s("--master"), m.clone()]);
        }
        for m in &cfg.marathons {
            args.extend([s("--marathon"), m.clone()]);
        }
        if let Some(c) = cfg.chronoses.first() {
            args.extend([s("--chronos"), c.clone()]);
        }
        args.extend([s("--cosmos"), format!("http://{ip}:{}", cfg.ports.cosmos)]);
        args.extend([
            s("--secret-file"),
            layout.cluster_secret().display().to_string(),
        ]);
        // Only the first master seeds the admin user; a joining master's
        // gateway finds the users already in the store.
        if cfg.store_join.is_none() {
            args.extend([
                s("--admin-credentials"),
                layout.admin_credentials().display().to_string(),
            ]);
        }
        args.extend([
            s("--join-token-file"),
            layout.join_token().display().to_string(),
            s("--binary"),
            cfg.binary.display().to_string(),
        ]);
        out.push(comp(
            "gateway",
            args,
            cfg.ports.gateway,
            "/dcos-metadata/dcos-version.json",
        ));
    }
    out
}

/// The ports this node will listen on (for the preflight check).
pub fn port_uses(cfg: &NodeConfig) -> Vec<PortUse> {
    let mut out = Vec::new();
    if cfg.role.runs_master() {
        out.push(PortUse {
            component: "master",
            flag: "--master-port",
            port: cfg.ports.master,
        });
    }
    if cfg.role.runs_agent() {
        out.push(PortUse {
            component: "agent",
            flag: "--agent-port",
            port: cfg.ports.agent,
        });
    }
    if cfg.role.runs_master() {
        out.extend([
            PortUse {
                component: "marathon",
                flag: "--marathon-port",
                port: cfg.ports.marathon,
            },
            PortUse {
                component: "chronos",
                flag: "--chronos-port",
                port: cfg.ports.chronos,
            },
            PortUse {
                component: "cosmos",
                flag: "--cosmos-port",
                port: cfg.ports.cosmos,
            },
            PortUse {
                component: "gateway",
                flag: "--gateway-port",
                port: cfg.ports.gateway,
            },
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Ports, Role};

    fn cfg(role: Role) -> NodeConfig {
        NodeConfig {
            role,
            cluster_id: "c".into(),
            ip: "10.0.0.1".into(),
            binary: "/usr/local/bin/dcos".into(),
            ports: Ports::default(),
            masters: vec!["http://10.0.0.1:5050".into(), "http://10.0.0.2:5050".into()],
            marathons: vec!["http://10.0.0.1:8080".into()],
            chronoses: vec!["http://10.0.0.1:4400".into()],
            gateway: "http://10.0.0.1:80".into(),
            store_join: None,
            cgroups_root: "dcos-c".into(),
            resources: None,
        }
    }

    #[test]
    fn one_machine_runs_everything_master_first_gateway_last() {
        let l = Layout::new("/d");
        let names: Vec<_> = components(&cfg(Role::MasterAgent), &l)
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            ["master", "agent", "marathon", "chronos", "cosmos", "gateway"]
        );
        let c = components(&cfg(Role::MasterAgent), &l);
        assert_eq!(c[0].health_url, "http://10.0.0.1:5050/health");
        assert!(c[1]
            .command_line()
            .contains("--master http://10.0.0.1:5050,http://10.0.0.2:5050"));
        assert_eq!(c[4].health_url, "http://10.0.0.1:7070/capabilities");
        assert!(c[4].command_line().contains(
            "--marathon http://10.0.0.1:8080 --listen 10.0.0.1:7070 --data-dir /d/cosmos"
        ));
        assert!(c[5]
            .command_line()
            .contains("--secret-file /d/secrets/cluster-secret"));
        assert!(c[5]
            .command_line()
            .contains("--cosmos http://10.0.0.1:7070"));
    }

    #[test]
    fn an_agent_node_runs_only_the_agent() {
        let c = components(&cfg(Role::Agent), &Layout::new("/d"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "agent");
        assert_eq!(port_uses(&cfg(Role::Agent)).len(), 1);
    }

    #[test]
    fn an_additional_master_joins_the_store() {
        let mut x = cfg(Role::Master);
        x.store_join = Some("http://10.0.0.1:5050".into());
        let c = components(&x, &Layout::new("/d"));
        assert!(c[0].command_line().ends_with("--join http://10.0.0.1:5050"));
        assert!(!c.iter().any(|c| c.name == "agent"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("cpus:1;mem:2"), "'cpus:1;mem:2'");
    }
}
