//! The `dcos` binary as a user meets it: version, help, and the error a
//! user gets when no master is running (exit code 1 and what to do next).

use std::process::Command;

fn dcos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcos"))
}

#[test]
fn prints_its_version() {
    let out = dcos().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("dcos "));
}

#[test]
fn a_store_command_without_a_master_says_what_to_do() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dcos()
        .args([
            "store",
            "--master",
            &format!("http://127.0.0.1:{port}"),
            "status",
        ])
        .env("DCOS_LOG", "off")
        .env("DCOS_STORE_RETRY_SECS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a master running at"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = dcos().args(["store", "frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn without_a_cluster_commands_say_run_cluster_setup_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["marathon", "app", "list"][..],
        &["job", "list"],
        &["task"],
        &["node", "list"],
    ] {
        let out = dcos()
            .args(args)
            .env("DCOS_DIR", dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("dcos cluster setup"), "{err}");
    }
    let out = dcos()
        .args(["cluster", "list", "--json"])
        .env("DCOS_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn shell_completions() {
    let out = dcos().args(["completion", "bash"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dcos__subcmd__marathon__subcmd__app"),
        "bash completion names the tree"
    );
}

#[test]
fn status_of_a_dir_without_an_install_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dcos()
        .args(["status", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing is installed"), "{err}");
}

/// `--store-namespace` of Marathon and Chronos: in their help, and a bad
/// one is a usage error that says which rule it breaks (before anything
/// is started).
#[test]
fn store_namespace_flags_are_documented_and_checked() {
    for daemon in ["marathon", "chronos"] {
        let out = dcos().args(["daemon", daemon, "--help"]).output().unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--store-namespace"), "{daemon}: {help}");
        assert!(help.contains("--framework-name"), "{daemon}: {help}");
        for (bad, says) in [
            ("tenants/x", "must start with '/'"),
            ("/tenants/x/", "must not end with '/'"),
            ("/tenants//x", "empty segment"),
            ("/marathon/two", "is under /marathon"),
            ("/mesos", "is under /mesos"),
        ] {
            let out = dcos()
                .args(["daemon", daemon, "--listen", "127.0.0.1:0"])
                .args(["--store-namespace", bad])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{daemon} {bad}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("--store-namespace") && err.contains(says),
                "{daemon} {bad}: {err}"
            );
        }
        let long = format!("/{}", "x".repeat(300));
        let out = dcos()
            .args(["daemon", daemon, "--store-namespace", &long])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("limit of 256 bytes"));
    }
}
