//! `dcos config`, `dcos auth` and the `dcos cluster` additions against a
//! cluster from `dcos install` (real processes, as root), driven as a user
//! would, asserting on what they print: settings kept in the cluster's
//! `dcos.toml`, `DCOS_*` overrides (no configured cluster needed with
//! `DCOS_URL`), logging out and in again, renaming and forgetting
//! clusters.

use dcos_tests::install::{run, Node, Run};
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `dcos <args>` with extra environment variables.
fn dcos_env(node: &Node, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = node.command(&dcos_tests::dcos_bin());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd.args(args))
}

#[test]
fn config_auth_and_clusters_as_a_user_drives_them() {
    if !dcos_skip::is_root() {
        dcos_skip::skip("the CLI config test installs a cluster, which needs root");
        return;
    }
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&["--resources", "cpus:2;mem:2048;ports:[32800-32899]"]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    node.setup();
    let gw = node.gateway();
    let token = node.token();

    // keys, show, set, unset.
    let keys = json(&node.dcos_ok(&["config", "keys", "--json"]));
    let names: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    for k in [
        "core.dcos_url",
        "core.dcos_acs_token",
        "core.timeout",
        "marathon.url",
    ] {
        assert!(names.contains(&k), "{k} not in {names:?}");
    }
    let shown = json(&node.dcos_ok(&["config", "show", "--json"]));
    assert_eq!(shown["core.dcos_url"], gw.as_str(), "{shown}");
    assert_eq!(
        node.dcos_ok(&["config", "show", "core.dcos_acs_token"])
            .trim(),
        token
    );
    let table = node.dcos_ok(&["config", "show"]);
    assert!(
        table.contains("*******") && !table.contains(&token),
        "{table}"
    );
    assert_eq!(
        node.dcos_ok(&["config", "set", "core.timeout", "30"])
            .trim(),
        "[core.timeout]: set to '30'"
    );
    assert_eq!(
        node.dcos_ok(&["config", "set", "core.timeout", "45"])
            .trim(),
        "[core.timeout]: changed from '30' to '45'"
    );
    let bad = node.dcos(&["config", "set", "core.timeout", "soon"]);
    assert!(
        !bad.ok() && bad.stderr.contains("whole number of seconds"),
        "{}",
        bad.stderr
    );
    let unknown = node.dcos(&["config", "set", "core.colour", "blue"]);
    assert!(
        !unknown.ok() && unknown.stderr.contains("dcos config keys"),
        "{}",
        unknown.stderr
    );
    assert_eq!(
        node.dcos_ok(&["config", "unset", "core.timeout"]).trim(),
        "[core.timeout]: removed"
    );
    let missing = node.dcos(&["config", "show", "core.timeout"]);
    assert!(
        !missing.ok() && missing.stderr.contains("not set"),
        "{}",
        missing.stderr
    );

    // marathon.url sends `dcos marathon` elsewhere (a Marathon from the
    // catalog, say): here first to the same one, then to nowhere.
    let marathon = format!("{gw}/service/marathon");
    node.dcos_ok(&["config", "set", "marathon.url", &marathon]);
    node.dcos_ok(&["marathon", "app", "list"]);
    node.dcos_ok(&["config", "set", "marathon.url", "http://127.0.0.1:1"]);
    let nowhere = node.dcos(&["marathon", "app", "list"]);
    assert!(
        !nowhere.ok() && nowhere.stderr.contains("cannot reach"),
        "{}",
        nowhere.stderr
    );
    node.dcos_ok(&["config", "unset", "marathon.url"]);
    node.dcos_ok(&["marathon", "app", "list"]);

    // The environment over the file; DCOS_URL needs no configured cluster.
    let empty = node.tmp().join("no-clusters");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    let none = dcos_env(&node, &[("DCOS_DIR", empty)], &["marathon", "app", "list"]);
    assert_eq!(none.code, Some(3), "{}", none.stderr);
    let by_env = dcos_env(
        &node,
        &[
            ("DCOS_DIR", empty),
            ("DCOS_URL", &gw),
            ("DCOS_ACS_TOKEN", &token),
        ],
        &["marathon", "app", "list", "--json"],
    );
    assert!(by_env.ok(), "{}", by_env.stderr);
    let wrong = dcos_env(
        &node,
        &[("DCOS_ACS_TOKEN", "not-a-token")],
        &["marathon", "app", "list"],
    );
    assert_eq!(wrong.code, Some(3), "{}", wrong.stderr);
    let shown = dcos_env(&node, &[("DCOS_CORE_TIMEOUT", "7")], &["config", "show"]);
    assert!(
        shown.stdout.contains("(from DCOS_CORE_TIMEOUT)"),
        "{}",
        shown.stdout
    );

    // auth: providers, logout, login again.
    let providers = json(&node.dcos_ok(&["auth", "list-providers", "--json"]));
    assert_eq!(
        providers["dcos-users"]["authentication-type"], "dcos-uid-password",
        "{providers}"
    );
    node.dcos_ok(&["auth", "logout"]);
    let out = node.dcos(&["marathon", "app", "list"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let pw_file = node.tmp().join("pw");
    std::fs::write(&pw_file, format!("{}\n", node.admin_password())).unwrap();
    let wrong_pw = node.tmp().join("wrong-pw");
    std::fs::write(&wrong_pw, "nope\n").unwrap();
    let refused = node.dcos(&[
        "auth",
        "login",
        "--username",
        "admin",
        "--password-file",
        wrong_pw.to_str().unwrap(),
    ]);
    assert!(
        !refused.ok() && refused.stderr.contains("wrong username or password"),
        "{}",
        refused.stderr
    );
    let ok = node.dcos_ok(&[
        "auth",
        "login",
        "--username",
        "admin",
        "--password-file",
        pw_file.to_str().unwrap(),
    ]);
    assert!(ok.contains("Login successful"), "{ok}");
    node.dcos_ok(&["marathon", "app", "list"]);

    // clusters: names, attached, rename, forget the unavailable ones.
    let name = node
        .dcos_ok(&["cluster", "list", "--names"])
        .trim()
        .to_string();
    node.dcos_ok(&["cluster", "rename", &name, "prod"]);
    assert_eq!(node.dcos_ok(&["cluster", "list", "--names"]).trim(), "prod");
    let gone_dir = node.dcos_dir.join("clusters/0000-gone");
    std::fs::create_dir_all(&gone_dir).unwrap();
    std::fs::write(
        gone_dir.join("dcos.toml"),
        "[core]\ndcos_url = \"http://127.0.0.1:1\"\ndcos_acs_token = \"x\"\n\n[cluster]\nname = \"gone\"\n",
    )
    .unwrap();
    let names = node.dcos_ok(&["cluster", "list", "--names"]);
    assert_eq!(names.lines().collect::<Vec<_>>(), ["gone", "prod"]);
    let attached = json(&node.dcos_ok(&["cluster", "list", "--attached", "--json"]));
    assert_eq!(attached.as_array().unwrap().len(), 1, "{attached}");
    assert_eq!(attached[0]["name"], "prod");
    let removed = node.dcos_ok(&["cluster", "remove", "--unavailable"]);
    assert!(removed.contains("removed gone"), "{removed}");
    assert_eq!(node.dcos_ok(&["cluster", "list", "--names"]).trim(), "prod");
    // And the setup flags: a provider the cluster does not have is refused.
    let pw = node.admin_password();
    let r = node.dcos(&[
        "cluster",
        "setup",
        &gw,
        "--username",
        "admin",
        "--password",
        &pw,
        "--provider",
        "ldap",
    ]);
    assert!(!r.ok() && r.stderr.contains("dcos-users"), "{}", r.stderr);
}
