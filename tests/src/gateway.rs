//! Harness for the gateway (`dcos daemon gateway`): writes the files the
//! installer would (cluster secret, join token, admin credentials, all
//! 0600) into a temp data dir, starts the gateway in front of given
//! masters, Marathons and Chronos, keeps its stdout and stderr in files
//! (so a test can grep them for secrets), logs in, and sends requests
//! with the token.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{dcos_bin, free_port};

/// The admin user the harness creates.
pub const ADMIN_UID: &str = "admin";

/// One `dcos daemon gateway` process.
#[derive(Debug)]
pub struct Gateway {
    pub dir: PathBuf,
    pub port: u16,
    pub secret: String,
    pub join_token: String,
    pub admin_password: String,
    args: Vec<String>,
    child: Option<Child>,
    http: reqwest::Client,
}

fn write_0600(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write secret file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

/// A random-looking string that is easy to grep for.
fn secret_like(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}-{nanos:x}-{:x}", std::process::id())
}

impl Gateway {
    /// Starts a gateway with data under `dir` in front of `masters`,
    /// `marathons` and `chronos` (URLs), and waits for its ready line.
    pub fn start(
        dir: &Path,
        masters: &[String],
        marathons: &[String],
        chronos: &[String],
    ) -> Gateway {
        Self::start_with(dir, masters, marathons, chronos, &[])
    }

    /// As [`Gateway::start`], with more flags.
    pub fn start_with(
        dir: &Path,
        masters: &[String],
        marathons: &[String],
        chronos: &[String],
        extra: &[&str],
    ) -> Gateway {
        let secret = secret_like("cluster-secret");
        let join_token = secret_like("join-token");
        let admin_password = secret_like("admin-password");
        write_0600(&dir.join("secrets/cluster-secret"), &format!("{secret}\n"));
        write_0600(&dir.join("secrets/join-token"), &format!("{join_token}\n"));
        write_0600(
            &dir.join("admin-credentials"),
            &format!("uid: {ADMIN_UID}\npassword: {admin_password}\n"),
        );
        let mut args = vec!["--data-dir".to_string(), dir.display().to_string()];
        for (flag, urls) in [
            ("--master", masters),
            ("--marathon", marathons),
            ("--chronos", chronos),
        ] {
            for u in urls {
                args.push(flag.to_string());
                args.push(u.clone());
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut g = Gateway {
            dir: dir.to_path_buf(),
            port: free_port(),
            secret,
            join_token,
            admin_password,
            args,
            child: None,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
        };
        g.spawn();
        g
    }

    /// Where its stdout and stderr go (appended across restarts).
    pub fn log_paths(&self) -> [PathBuf; 2] {
        [
            self.dir.join("gateway.stdout"),
            self.dir.join("gateway.stderr"),
        ]
    }

    fn spawn(&mut self) {
        let [out, err] = self.log_paths();
        let open = |p: &Path| {
            File::options()
                .create(true)
                .append(true)
                .open(p)
                .expect("open log file")
        };
        let before = std::fs::read_to_string(&out).map(|s| s.len()).unwrap_or(0);
        let child = Command::new(dcos_bin())
            .args(["daemon", "gateway", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(&self.args)
            // The most verbose level: nothing secret may appear even there.
            .env("DCOS_LOG", "debug")
            .stdout(Stdio::from(open(&out)))
            .stderr(Stdio::from(open(&err)))
            .spawn()
            .expect("spawn dcos daemon gateway");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if text
                .get(before..)
                .is_some_and(|t| t.contains("listening on"))
            {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the gateway exited ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the gateway on port {} did not become ready within 60 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn logs(&self) -> String {
        self.log_paths()
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (flushes nothing more than kill, but exits cleanly).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// `POST /acs/api/v1/auth/login`: status and the token if any.
    pub async fn login(&self, uid: &str, password: &str) -> (u16, Option<String>) {
        let (status, body) = self
            .request(
                "POST",
                "/acs/api/v1/auth/login",
                None,
                Some(serde_json::json!({"uid": uid, "password": password})),
            )
            .await;
        (status, body["token"].as_str().map(str::to_string))
    }

    /// Logs in as the admin and returns the token.
    pub async fn admin_token(&self) -> String {
        let (status, token) = self.login(ADMIN_UID, &self.admin_password).await;
        assert_eq!(status, 200, "admin login");
        token.expect("a token")
    }

    /// A request with `Authorization: token=<t>` when `token` is given;
    /// the status and the JSON answer (`Null` if not JSON; status 0 if no
    /// answer at all).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, bytes) = self.raw(method, path, token, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// As [`Gateway::request`], with the body as bytes.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Vec<u8>) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.header("Authorization", format!("token={t}"));
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (
                    status,
                    r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                )
            }
            Err(_) => (0, Vec::new()),
        }
    }

    /// A streaming GET (for event streams) with the token.
    pub async fn stream(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url()))
            .header("Authorization", format!("token={token}"))
            .header("Accept", "text/event-stream")
            .send()
            .await
            .expect("open the stream")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}
