//! How commands print: a table for people, JSON for scripts (`--json`).

use comfy_table::{presets::NOTHING, Table};
use serde::Serialize;

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints a borderless table with a header row.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) {
    println!("{}", table_string(header, rows));
}

/// Shows bytes as text when they are UTF-8, else as base64.
pub fn text_or_base64(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            use base64::Engine;
            format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        }
    }
}

/// Prints a JSON value: strings as they are, the rest pretty.
pub fn print_value(v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) => println!("{s}"),
        serde_json::Value::Null => {}
        other => println!(
            "{}",
            serde_json::to_string_pretty(other).unwrap_or_default()
        ),
    }
}

/// The strings of a JSON array, comma-separated (a table cell); empty
/// for anything else.
pub fn comma_list(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Reads a JSON document from `file`, or from stdin without one.
pub fn read_json(file: Option<&std::path::Path>) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let text = match file {
        Some(f) => {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        None => {
            use std::io::{IsTerminal, Read};
            if std::io::stdin().is_terminal() {
                anyhow::bail!("give a JSON file, or pipe the JSON into stdin");
            }
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
    };
    serde_json::from_str(&text).context("the input is not valid JSON")
}

/// A table as a string (for tests and for callers that add to it).
pub fn table_string(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t.set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_a_header_and_aligned_columns() {
        let s = table_string(
            &["ID", "STATE"],
            vec![
                vec!["/web".into(), "TASK_RUNNING".into()],
                vec!["/a-longer-name".into(), "TASK_STAGING".into()],
            ],
        );
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3, "{s}");
        assert!(lines[0].trim_start().starts_with("ID"));
        let col = |l: &str| l.find("TASK_").or_else(|| l.find("STATE"));
        assert_eq!(col(lines[0]), col(lines[1]));
        assert_eq!(col(lines[1]), col(lines[2]));
    }
}
