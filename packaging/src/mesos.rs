//! The one thing Cosmos asks the Mesos master: after a framework package's
//! app is gone, tear its framework down so the tasks it launched stop and
//! its resources come back (as DC/OS' Cosmos did on uninstall). Frameworks
//! are found by name (`DCOS_PACKAGE_FRAMEWORK_NAME`) in
//! `GET /master/frameworks`, torn down with the operator API's `TEARDOWN`.

use serde_json::{json, Value};

/// Tears down every active framework called `name`; the ids torn down.
/// Each master is tried in turn (a follower redirects to the leader).
pub async fn teardown_named(
    http: &reqwest::Client,
    masters: &[String],
    name: &str,
) -> Result<Vec<String>, String> {
    let mut last = String::from("no master configured");
    for m in masters {
        let m = m.trim_end_matches('/');
        let frameworks: Value = match http.get(format!("{m}/master/frameworks")).send().await {
            Ok(r) if r.status().is_success() => match r.json().await {
                Ok(v) => v,
                Err(e) => {
                    last = format!("{m}: {e}");
                    continue;
                }
            },
            Ok(r) => {
                last = format!("{m} answered {}", r.status());
                continue;
            }
            Err(e) => {
                last = format!("{m}: {e}");
                continue;
            }
        };
        let ids: Vec<String> = frameworks["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["name"] == name)
            .filter_map(|f| f["id"].as_str().map(str::to_string))
            .collect();
        for id in &ids {
            let call = json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": id}}});
            let r = http
                .post(format!("{m}/api/v1"))
                .json(&call)
                .send()
                .await
                .map_err(|e| format!("{m}: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("{m} refused to tear down {id}: {}", r.status()));
            }
        }
        return Ok(ids);
    }
    Err(last)
}
