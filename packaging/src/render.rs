//! From a package and a user's options to the Marathon JSON that installs
//! it, as Cosmos' `PackageDefinitionRenderer` did:
//!
//! 1. options = the defaults of `config.json` ⊕ the user's options (deep
//!    merge, the user's win);
//! 2. validated against `config.json` (JSON Schema; every error names the
//!    offending path and rule); options without a schema are refused;
//! 3. the template (`marathon.json.mustache`) is rendered with those
//!    options plus `{"resource": resource.json}`: Mustache without HTML
//!    escaping; strings are JSON-escaped (so a quote in an option cannot
//!    break the JSON), whole numbers render without a fraction;
//!    `{{#asJson}}name{{/asJson}}` renders a value as JSON; a variable
//!    that resolves to nothing is an error (Cosmos rendered an empty
//!    string and left the user with a broken app);
//! 4. the result must be a JSON object; `appId` replaces its `id`; the
//!    package labels (`DCOS_PACKAGE_*`) are added over its own labels.
//!
//! Pure: no I/O. Owns the options and rendering rules.

use std::collections::HashMap;

use base64::Engine;
use mustache2::Data;
use serde_json::{json, Map, Value};

use crate::universe::{FormatError, Package};

/// The labels an installed package's Marathon app carries.
pub mod labels {
    /// The package's name: what `package list` finds installations by.
    pub const NAME: &str = "DCOS_PACKAGE_NAME";
    /// The package's version.
    pub const VERSION: &str = "DCOS_PACKAGE_VERSION";
    /// The repository URI it came from.
    pub const SOURCE: &str = "DCOS_PACKAGE_SOURCE";
    /// The user's options, base64 JSON (kept for upgrades).
    pub const OPTIONS: &str = "DCOS_PACKAGE_OPTIONS";
    /// The package metadata (package.json and images), base64 JSON.
    pub const METADATA: &str = "DCOS_PACKAGE_METADATA";
    /// The whole package definition in Cosmos' storage envelope, base64.
    pub const DEFINITION: &str = "DCOS_PACKAGE_DEFINITION";
    /// The package's release number.
    pub const RELEASE: &str = "DCOS_PACKAGE_RELEASE";
    /// Whether it is a framework.
    pub const IS_FRAMEWORK: &str = "DCOS_PACKAGE_IS_FRAMEWORK";
    /// On each app of a package installed as a group: the group's id.
    pub const GROUP: &str = "DCOS_PACKAGE_GROUP";
    /// The Mesos framework name of a framework package (the template's).
    pub const FRAMEWORK_NAME: &str = "DCOS_PACKAGE_FRAMEWORK_NAME";
    /// The service's name (the gateway's `/service/<name>/`).
    pub const SERVICE_NAME: &str = "DCOS_SERVICE_NAME";
}

/// Why a package cannot be rendered with these options.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The options do not match the package's schema.
    #[error("Options JSON failed validation: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Schema(Vec<SchemaViolation>),
    /// Options were given for a package without a schema.
    #[error("No schema available to validate the provided options")]
    OptionsNotAllowed,
    /// The package has no Marathon template.
    #[error("package {0} has no Marathon template to install")]
    NoTemplate(String),
    /// The template names a value the options do not have.
    #[error("the template references {name} (line {line}), which is in neither the options nor resource.json")]
    MissingValue {
        /// The dotted name.
        name: String,
        /// Its line in the template.
        line: usize,
    },
    /// The template is not valid Mustache.
    #[error("the Marathon template is not valid Mustache: {0}")]
    Template(String),
    /// The rendered text is not a JSON object.
    #[error("Rendered Marathon JSON must be a JSON object: {0}")]
    NotAnObject(String),
    /// The package itself is malformed.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// One JSON Schema violation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SchemaViolation {
    /// JSON pointer to the offending value (`/brokers/count`, `` for the
    /// root).
    pub path: String,
    /// The schema keyword that failed (`type`, `minimum`, `required`, …).
    pub rule: String,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.rule)
    }
}

/// The defaults a JSON Schema declares: every property's `default`, and
/// for an object property without one, the defaults of its properties
/// (if any).
pub fn defaults(schema: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for (name, prop) in props {
        if let Some(d) = prop.get("default") {
            out.insert(name.clone(), d.clone());
        } else if prop.get("properties").is_some() {
            let nested = defaults(prop);
            if !nested.is_empty() {
                out.insert(name.clone(), Value::Object(nested));
            }
        }
    }
    out
}

/// Deep-merges `over` into `base`: objects merge key by key, anything
/// else in `over` replaces.
pub fn merge(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Validates `options` against `schema`, every violation listed.
pub fn validate(schema: &Value, options: &Value) -> Result<(), Vec<SchemaViolation>> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![SchemaViolation {
                path: String::new(),
                rule: "schema".into(),
                message: format!("the package's config.json is not a valid JSON Schema: {e}"),
            }])
        }
    };
    let errors: Vec<SchemaViolation> = validator
        .iter_errors(options)
        .map(|e| {
            let rule = e
                .schema_path()
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            SchemaViolation {
                path: e.instance_path().as_str().to_string(),
                rule,
                message: e.to_string(),
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Defaults ⊕ the user's options, validated: what the template sees
/// (before `resource`) and what an upgrade keeps.
pub fn resolve_options(
    pkg: &Package,
    user: Option<&Map<String, Value>>,
) -> Result<Map<String, Value>, RenderError> {
    let mut merged = pkg.config.as_ref().map(defaults).unwrap_or_default();
    if let Some(u) = user {
        merge(&mut merged, u);
    }
    match (&pkg.config, merged.is_empty()) {
        (_, true) => {}
        (None, false) => return Err(RenderError::OptionsNotAllowed),
        (Some(schema), false) => {
            validate(schema, &Value::Object(merged.clone())).map_err(RenderError::Schema)?
        }
    }
    Ok(merged)
}

/// Renders the package's Marathon JSON for `user` options; `source` is
/// the repository URI (a label), `app_id` replaces the template's `id`.
pub fn render(
    pkg: &Package,
    source: &str,
    user: Option<&Map<String, Value>>,
    app_id: Option<&str>,
) -> Result<Map<String, Value>, RenderError> {
    let mut extra = Map::new();
    if let Some(r) = &pkg.resource {
        extra.insert("resource".into(), r.clone());
    }
    render_with(pkg, extra, source, user, app_id)
}

/// [`render`] with the template seeing `extra` beside the options: Cosmos
/// gives `resource` (the package's, its artifact URLs pointed at the
/// cluster's store) and `cluster` (`cluster.masters`: the masters' URLs,
/// comma-separated, for packages that are frameworks themselves).
pub fn render_with(
    pkg: &Package,
    extra: Map<String, Value>,
    source: &str,
    user: Option<&Map<String, Value>>,
    app_id: Option<&str>,
) -> Result<Map<String, Value>, RenderError> {
    let options = resolve_options(pkg, user)?;
    let Some(template) = pkg.template()? else {
        return Err(RenderError::NoTemplate(pkg.name.clone()));
    };
    let mut context = options.clone();
    context.extend(extra);
    let text = render_template(&template, &context)?;
    let parsed: Value = serde_json::from_str(&text).map_err(|e| {
        RenderError::NotAnObject(format!("{e} in the rendered text: {}", snippet(&text, &e)))
    })?;
    let Value::Object(mut app) = parsed else {
        return Err(RenderError::NotAnObject(
            "the rendered text is JSON but not an object".into(),
        ));
    };
    if let Some(id) = app_id {
        app.insert("id".into(), Value::String(id.to_string()));
    }
    if crate::marathon::Kind::of(&app) == crate::marathon::Kind::Group {
        // Marathon's groups have no labels: every app of the group gets
        // the package's, and the group's id.
        let group = app
            .get("id")
            .and_then(Value::as_str)
            .map(|id| format!("/{}", id.trim_matches('/')))
            .ok_or_else(|| RenderError::NotAnObject("a group template needs an id".into()))?;
        let mut extra = package_labels(pkg, source, user);
        extra.push((labels::GROUP, group));
        label_group_apps(&mut app, &extra)?;
        return Ok(app);
    }
    let mut own = app
        .get("labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some((k, _)) = own.iter().find(|(_, v)| !v.is_string()) {
        return Err(RenderError::NotAnObject(format!(
            "label {k} must be a string (Marathon labels are strings)"
        )));
    }
    let service = app
        .get("id")
        .and_then(Value::as_str)
        .map(|id| id.trim_matches('/').to_string())
        .unwrap_or_else(|| pkg.name.clone());
    own.entry(labels::SERVICE_NAME)
        .or_insert_with(|| Value::String(service));
    for (k, v) in package_labels(pkg, source, user) {
        own.insert(k.into(), Value::String(v));
    }
    app.insert("labels".into(), Value::Object(own));
    Ok(app)
}

/// Adds `extra` to the labels of every app of a group template, nested
/// groups included.
fn label_group_apps(
    group: &mut Map<String, Value>,
    extra: &[(&'static str, String)],
) -> Result<(), RenderError> {
    for app in group
        .get_mut("apps")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(app) = app.as_object_mut() else {
            return Err(RenderError::NotAnObject(
                "a group's apps must be JSON objects".into(),
            ));
        };
        let labels = app
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(labels) = labels.as_object_mut() else {
            return Err(RenderError::NotAnObject(
                "an app's labels must be an object of strings".into(),
            ));
        };
        if let Some((k, _)) = labels.iter().find(|(_, v)| !v.is_string()) {
            return Err(RenderError::NotAnObject(format!(
                "label {k} must be a string (Marathon labels are strings)"
            )));
        }
        for (k, v) in extra {
            labels.insert((*k).into(), Value::String(v.clone()));
        }
    }
    for g in group
        .get_mut("groups")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(g) = g.as_object_mut() {
            label_group_apps(g, extra)?;
        }
    }
    Ok(())
}

fn snippet(text: &str, e: &serde_json::Error) -> String {
    let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
    line.trim().chars().take(120).collect()
}

fn b64_json(v: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

/// The labels that say which package an app is (they override the
/// template's own).
pub fn package_labels(
    pkg: &Package,
    source: &str,
    user: Option<&Map<String, Value>>,
) -> Vec<(&'static str, String)> {
    let mut metadata = json!({
        "packagingVersion": pkg.packaging_version.as_str(),
        "name": pkg.name,
        "version": pkg.version,
        "maintainer": pkg.maintainer,
        "description": pkg.description,
        "tags": pkg.tags,
        "selected": pkg.selected,
        "framework": pkg.framework,
    });
    for (k, v) in [
        ("postInstallNotes", &pkg.post_install_notes),
        ("postUninstallNotes", &pkg.post_uninstall_notes),
        ("preInstallNotes", &pkg.pre_install_notes),
        ("scm", &pkg.scm),
        ("website", &pkg.website),
    ] {
        if let Some(v) = v {
            metadata[k] = Value::String(v.clone());
        }
    }
    if let Some(images) = pkg.images() {
        metadata["images"] = images.clone();
    }
    let definition = json!({
        "metadata": {
            "Content-Type": "application/vnd.dcos.universe.package+json;charset=utf-8;version=v4"
        },
        "data": base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(pkg).unwrap_or_default()),
    });
    vec![
        (labels::NAME, pkg.name.clone()),
        (labels::VERSION, pkg.version.clone()),
        (labels::RELEASE, pkg.release_version.to_string()),
        (labels::SOURCE, source.to_string()),
        (labels::IS_FRAMEWORK, pkg.framework.to_string()),
        (
            labels::OPTIONS,
            b64_json(&Value::Object(user.cloned().unwrap_or_default())),
        ),
        (labels::METADATA, b64_json(&metadata)),
        (labels::DEFINITION, b64_json(&definition)),
    ]
}

/// Decodes a base64 JSON label (`DCOS_PACKAGE_OPTIONS`, `…_METADATA`).
pub fn decode_label(value: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A Mustache tag found by [`scan`].
#[derive(Debug, Clone, PartialEq)]
struct Tag {
    /// `#`, `^`, `/`, `&`, `{`, `!`, `>`, `=` or ' ' for a variable.
    sigil: char,
    name: String,
    line: usize,
}

/// The tags of a template, in order, with the byte range of each.
fn scan(template: &str) -> Result<Vec<(std::ops::Range<usize>, Tag)>, RenderError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(start) = template[pos..].find("{{").map(|i| i + pos) {
        let triple = template[start..].starts_with("{{{");
        let (close, open_len) = if triple { ("}}}", 3) } else { ("}}", 2) };
        let Some(end) = template[start + open_len..]
            .find(close)
            .map(|i| i + start + open_len)
        else {
            return Err(RenderError::Template(format!(
                "unclosed tag at line {}",
                line_of(template, start)
            )));
        };
        let inner = template[start + open_len..end].trim();
        let (sigil, name) = if triple {
            ('{', inner)
        } else {
            match inner.chars().next() {
                Some(c @ ('#' | '^' | '/' | '&' | '!' | '>' | '=')) => (c, inner[1..].trim()),
                _ => (' ', inner),
            }
        };
        if sigil == '=' {
            return Err(RenderError::Template(format!(
                "set-delimiter tags are not supported (line {})",
                line_of(template, start)
            )));
        }
        out.push((
            start..end + close.len(),
            Tag {
                sigil,
                name: name.to_string(),
                line: line_of(template, start),
            },
        ));
        pos = end + close.len();
    }
    Ok(out)
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte].matches('\n').count() + 1
}

fn lookup<'a>(root: &'a Value, dotted: &str) -> Option<&'a Value> {
    if dotted == "." {
        return Some(root);
    }
    dotted
        .split('.')
        .try_fold(root, |v, part| v.as_object().and_then(|o| o.get(part)))
}

/// Rewrites the template for Cosmos' semantics (no HTML escaping:
/// `{{x}}` → `{{&x}}`; `{{#asJson}}x{{/asJson}}` → the value as JSON)
/// and checks that every variable outside list sections resolves.
fn prepare(template: &str, context: &Value) -> Result<String, RenderError> {
    let tags = scan(template)?;
    let mut out = String::with_capacity(template.len());
    let mut copied = 0;
    // The open sections: their resolved context, None when it cannot
    // be known statically (a list, an inverted section, a lambda).
    let mut sections: Vec<(String, Option<Value>)> = Vec::new();
    let mut i = 0;
    while i < tags.len() {
        let (range, tag) = &tags[i];
        out.push_str(&template[copied..range.start]);
        copied = range.end;
        match tag.sigil {
            '#' if tag.name == "asJson" => {
                // {{#asJson}}name{{/asJson}}: the body is the value's name.
                let Some((close, _)) = tags
                    .get(i + 1)
                    .filter(|(_, t)| t.sigil == '/' && t.name == "asJson")
                else {
                    return Err(RenderError::Template(format!(
                        "{{{{#asJson}}}} must hold only a value's name (line {})",
                        tag.line
                    )));
                };
                let name = template[range.end..close.start].trim();
                let value = lookup(context, name).cloned().unwrap_or(Value::Null);
                out.push_str(&value.to_string());
                copied = close.end;
                i += 2;
                continue;
            }
            '#' | '^' => {
                let ctx = if tag.sigil == '#' {
                    resolve(context, &sections, &tag.name)
                        .filter(|v| v.is_object())
                        .cloned()
                } else {
                    None
                };
                sections.push((tag.name.clone(), ctx));
                out.push_str(&template[range.clone()]);
            }
            '/' => {
                match sections.pop() {
                    Some((open, _)) if open == tag.name => {}
                    Some((open, _)) => {
                        return Err(RenderError::Template(format!(
                            "section {open} closed by {{{{/{}}}}} (line {})",
                            tag.name, tag.line
                        )))
                    }
                    None => {
                        return Err(RenderError::Template(format!(
                            "{{{{/{}}}}} closes no section (line {})",
                            tag.name, tag.line
                        )))
                    }
                }
                out.push_str(&template[range.clone()]);
            }
            ' ' | '&' | '{' => {
                let knowable = sections.iter().all(|(_, c)| c.is_some());
                if knowable && resolve(context, &sections, &tag.name).is_none() {
                    return Err(RenderError::MissingValue {
                        name: tag.name.clone(),
                        line: tag.line,
                    });
                }
                out.push_str("{{&");
                out.push_str(&tag.name);
                out.push_str("}}");
            }
            _ => out.push_str(&template[range.clone()]),
        }
        i += 1;
    }
    if let Some((open, _)) = sections.last() {
        return Err(RenderError::Template(format!(
            "section {open} is never closed"
        )));
    }
    out.push_str(&template[copied..]);
    Ok(out)
}

/// Resolves a name as Mustache would: against the innermost section's
/// context first, then outwards, then the root.
fn resolve<'a>(
    root: &'a Value,
    sections: &'a [(String, Option<Value>)],
    name: &str,
) -> Option<&'a Value> {
    let first = name.split('.').next().unwrap_or(name);
    for (_, ctx) in sections.iter().rev() {
        if let Some(c) = ctx {
            if c.get(first).is_some() || name == "." {
                return lookup(c, name);
            }
        }
    }
    lookup(root, name)
}

/// Cosmos' view of a JSON value in a template: strings JSON-escaped
/// (quoted only inside lists), whole numbers without a fraction.
fn to_data(v: &Value, in_list: bool) -> Data {
    match v {
        Value::Null => Data::Null,
        Value::Bool(b) => Data::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Data::Int(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Data::Int(f as i64),
            (None, Some(f)) => Data::Float(f),
            (None, None) => Data::String(n.to_string()),
        },
        Value::String(s) => {
            let quoted = Value::String(s.clone()).to_string();
            if in_list {
                Data::String(quoted)
            } else {
                Data::String(quoted[1..quoted.len() - 1].to_string())
            }
        }
        Value::Array(a) => Data::List(a.iter().map(|x| to_data(x, true)).collect()),
        Value::Object(o) => Data::Map(
            o.iter()
                .map(|(k, x)| (k.clone(), to_data(x, false)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

struct OneTemplate(String);

impl mustache2::render::provider::SourceProvider for OneTemplate {
    type Key = String;
    fn get_src(&mut self, key: &String) -> Result<String, std::borrow::Cow<'static, str>> {
        if key == "template" {
            Ok(self.0.clone())
        } else {
            Err(format!("partials are not supported ({{{{> {key}}}}})").into())
        }
    }
    fn resolve_partial(&self, _key: &String, name: &str) -> String {
        name.to_string()
    }
    fn display_key(key: &String) -> std::borrow::Cow<'_, str> {
        key.into()
    }
}

/// Renders a Universe template against `context` with Cosmos' rules.
pub fn render_template(
    template: &str,
    context: &Map<String, Value>,
) -> Result<String, RenderError> {
    let root = Value::Object(context.clone());
    let prepared = prepare(template, &root)?;
    let cache = mustache2::render::SourceCache::default();
    let mut manager = mustache2::render::RenderManager::new(OneTemplate(prepared), &cache);
    manager
        .render("template".to_string(), to_data(&root, false))
        .map_err(|e| RenderError::Template(e.message.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::{MarathonTemplate, PackagingVersion};

    fn pkg(template: &str, config: Option<Value>, resource: Option<Value>) -> Package {
        Package {
            packaging_version: PackagingVersion::V4,
            name: "kafka".into(),
            version: "2.4.0".into(),
            release_version: 3,
            maintainer: "m".into(),
            description: "d".into(),
            tags: vec![],
            selected: false,
            framework: true,
            pre_install_notes: None,
            post_install_notes: Some("done".into()),
            post_uninstall_notes: None,
            scm: None,
            website: None,
            licenses: None,
            min_dcos_release_version: None,
            upgrades_from: None,
            downgrades_to: None,
            config,
            resource,
            marathon: Some(MarathonTemplate {
                v2_app_mustache_template: base64::engine::general_purpose::STANDARD
                    .encode(template),
            }),
            command: None,
            other: Map::new(),
        }
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "service": {"type": "object", "properties": {
                    "name": {"type": "string", "default": "kafka"},
                    "user": {"type": "string", "default": "nobody"}}},
                "brokers": {"type": "object", "properties": {
                    "count": {"type": "integer", "default": 3, "minimum": 1},
                    "cpus": {"type": "number", "default": 1.0},
                    "mem": {"type": "number", "default": 0.5},
                    "port": {"type": "integer"}},
                    "required": ["count"]},
                "extra": {"type": "boolean"}
            }
        })
    }

    #[test]
    fn defaults_cover_nested_objects_and_merge_keeps_the_users_values() {
        let mut d = defaults(&schema());
        assert_eq!(
            Value::Object(d.clone()),
            json!({"service": {"name": "kafka", "user": "nobody"},
                   "brokers": {"count": 3, "cpus": 1.0, "mem": 0.5}})
        );
        let user = json!({"brokers": {"count": 5}, "extra": true});
        merge(&mut d, user.as_object().unwrap());
        assert_eq!(d["brokers"], json!({"count": 5, "cpus": 1.0, "mem": 0.5}));
        assert_eq!(d["extra"], json!(true));
    }

    #[test]
    fn a_universe_template_renders_as_cosmos_did() {
        let template = r#"{
  "id": "{{service.name}}",
  "cpus": {{brokers.cpus}}, "mem": {{brokers.mem}}, "instances": 1,
  "user": "{{service.user}}",
  "env": {"BROKER_COUNT": "{{brokers.count}}", "KAFKA_URI": "{{resource.assets.uris.kafka-tgz}}",
          "NOTE": "{{note}}"},
  "uris": [{{#resource.assets.uris.list}}{{.}},{{/resource.assets.uris.list}}"last"],
  {{#brokers.port}}"ports": [{{brokers.port}}],{{/brokers.port}}
  {{^extra}}"extra": false,{{/extra}}
  "labels": {"DCOS_SERVICE_NAME": "{{service.name}}", "MARATHON_SINGLE_INSTANCE_APP": "true"},
  "raw": {{#asJson}}brokers{{/asJson}}
}"#;
        let resource = json!({"assets": {"uris": {
            "kafka-tgz": "https://x/kafka_2.12-2.4.0.tgz?a=1&b=2",
            "list": ["u1", "u2"]}}});
        let p = pkg(template, Some(schema()), Some(resource));
        let mut s = schema();
        s["properties"]["note"] = json!({"type": "string", "default": ""});
        let p = Package {
            config: Some(s),
            ..p
        };
        let user = json!({"brokers": {"count": 2, "port": 9092}, "note": "a \"quoted\" <b>"});
        let app = render(&p, "file:///repo", user.as_object(), None).unwrap();
        assert_eq!(app["id"], json!("kafka"));
        assert_eq!(app["cpus"], json!(1), "1.0 renders as 1, as Cosmos");
        assert_eq!(app["mem"], json!(0.5));
        assert_eq!(app["env"]["BROKER_COUNT"], json!("2"));
        assert_eq!(
            app["env"]["KAFKA_URI"],
            json!("https://x/kafka_2.12-2.4.0.tgz?a=1&b=2"),
            "no HTML escaping"
        );
        assert_eq!(app["env"]["NOTE"], json!("a \"quoted\" <b>"));
        assert_eq!(app["uris"], json!(["u1", "u2", "last"]));
        assert_eq!(app["ports"], json!([9092]));
        assert_eq!(app["extra"], json!(false));
        assert_eq!(
            app["raw"],
            json!({"count": 2, "cpus": 1.0, "mem": 0.5, "port": 9092})
        );
        let labels = app["labels"].as_object().unwrap();
        assert_eq!(labels["DCOS_SERVICE_NAME"], json!("kafka"));
        assert_eq!(labels["MARATHON_SINGLE_INSTANCE_APP"], json!("true"));
        assert_eq!(labels[labels::NAME], json!("kafka"));
        assert_eq!(labels[labels::VERSION], json!("2.4.0"));
        assert_eq!(labels[labels::SOURCE], json!("file:///repo"));
        assert_eq!(
            decode_label(labels[labels::OPTIONS].as_str().unwrap()).unwrap(),
            user
        );
        let meta = decode_label(labels[labels::METADATA].as_str().unwrap()).unwrap();
        assert_eq!(meta["postInstallNotes"], json!("done"));

        let renamed = render(&p, "file:///repo", user.as_object(), Some("/prod/kafka")).unwrap();
        assert_eq!(renamed["id"], json!("/prod/kafka"));
    }

    #[test]
    fn bad_options_name_the_path_and_the_rule() {
        let p = pkg(r#"{"id":"x"}"#, Some(schema()), None);
        let user = json!({"brokers": {"count": 0, "cpus": "many"}});
        let Err(RenderError::Schema(errors)) = render(&p, "s", user.as_object(), None) else {
            panic!("expected a schema error");
        };
        let mut found: Vec<(String, String)> = errors
            .iter()
            .map(|e| (e.path.clone(), e.rule.clone()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                ("/brokers/count".to_string(), "minimum".to_string()),
                ("/brokers/cpus".to_string(), "type".to_string())
            ]
        );
        let without_schema = pkg(r#"{"id":"x"}"#, None, None);
        assert_eq!(
            render(&without_schema, "s", json!({"a": 1}).as_object(), None),
            Err(RenderError::OptionsNotAllowed)
        );
    }

    #[test]
    fn a_missing_value_or_a_broken_template_is_an_error_not_an_empty_string() {
        let p = pkg(
            "{\"id\": \"x\",\n \"cmd\": \"{{service.nmae}}\"}",
            Some(schema()),
            None,
        );
        assert_eq!(
            render(&p, "s", None, None),
            Err(RenderError::MissingValue {
                name: "service.nmae".into(),
                line: 2
            })
        );
        let p = pkg(r#"{"id": "{{#service}}{{name}}"}"#, Some(schema()), None);
        assert!(matches!(
            render(&p, "s", None, None),
            Err(RenderError::Template(m)) if m.contains("never closed")
        ));
        let p = pkg(r#"["{{service.name}}"]"#, Some(schema()), None);
        assert!(matches!(
            render(&p, "s", None, None),
            Err(RenderError::NotAnObject(_))
        ));
        let p = pkg(r#"{"id": {{service.name}}}"#, Some(schema()), None);
        assert!(matches!(
            render(&p, "s", None, None),
            Err(RenderError::NotAnObject(m)) if m.contains("kafka")
        ));
        // Inside a section, names resolve against the section first.
        let p = pkg(
            r#"{"id": "{{#service}}{{name}}-{{brokers.count}}{{/service}}"}"#,
            Some(schema()),
            None,
        );
        assert_eq!(render(&p, "s", None, None).unwrap()["id"], json!("kafka-3"));
    }

    #[test]
    fn a_group_template_labels_every_app_and_not_the_group() {
        let template = r#"{"id": "/shop", "apps": [{"id": "web", "cmd": "x"}],
            "groups": [{"id": "db", "apps": [{"id": "pg", "cmd": "y", "labels": {"OWN": "kept"}}]}]}"#;
        let p = pkg(template, None, None);
        let g = render(&p, "file:///r", None, None).unwrap();
        assert_eq!(crate::marathon::Kind::of(&g), crate::marathon::Kind::Group);
        assert!(g.get("labels").is_none(), "Marathon groups have no labels");
        let web = &g["apps"][0]["labels"];
        let pg = &g["groups"][0]["apps"][0]["labels"];
        for l in [web, pg] {
            assert_eq!(l[labels::GROUP], "/shop");
            assert_eq!(l[labels::NAME], p.name.as_str());
        }
        assert_eq!(pg["OWN"], "kept");
        // --app-id moves the whole group.
        let moved = render(&p, "file:///r", None, Some("/team/shop")).unwrap();
        assert_eq!(moved["apps"][0]["labels"][labels::GROUP], "/team/shop");
    }
}
