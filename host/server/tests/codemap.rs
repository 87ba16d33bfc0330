//! Keeps the codemap of docs/ARCHITECTURE.md true: every path its table names
//! exists, every file or module it names in backticks exists in the row's
//! crate, every crate name matches the package at that path, and every member
//! of the root workspace has a row.

use std::fs;
use std::path::{Path, PathBuf};

/// One row of the codemap table.
struct Row {
    /// Line number in ARCHITECTURE.md (1-based), for messages.
    line: usize,
    /// The path of the first column, without a trailing '/'.
    path: String,
    /// The cells after the first one.
    rest: Vec<String>,
}

fn repo_root() -> PathBuf {
    // host/server -> the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Texts between backticks in a cell.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The rows of the table under `## Codemap`.
fn codemap_rows(doc: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut in_section = false;
    for (index, line) in doc.lines().enumerate() {
        if line.starts_with("## ") {
            in_section = line.trim() == "## Codemap";
            continue;
        }
        let line = line.trim();
        if !in_section || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let first = backticked(cells[0]);
        // The header row and the separator row have no backticked path.
        let Some(path) = first.first() else { continue };
        rows.push(Row {
            line: index + 1,
            path: path.trim_end_matches('/').to_string(),
            rest: cells[1..].iter().map(|c| c.to_string()).collect(),
        });
    }
    rows
}

/// True for a backticked name that denotes a file or folder: it contains a
/// '/', or ends in a file extension (`persist.rs`, `build.sh`). Code names
/// (`Dispatcher::handle`, `escape()`, `opensim:dispatcher@0.1.0`) are not.
fn looks_like_path(name: &str) -> bool {
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains("::") {
        return false;
    }
    if name.contains('/') {
        return true;
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty() && !stem.contains(['@', ':', '(', '$']) && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// Whether `file` (a bare file name) exists anywhere below `dir`, skipping
/// build output and installed packages. A module `foo.rs` also counts as
/// `foo/mod.rs`.
fn found_below(dir: &Path, file: &str) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if matches!(name.as_ref(), "target" | "node_modules" | ".venv" | ".git") {
                continue;
            }
            if let Some(module) = file.strip_suffix(".rs") {
                if name == module && path.join("mod.rs").is_file() {
                    return true;
                }
            }
            if found_below(&path, file) {
                return true;
            }
        } else if name == file {
            return true;
        }
    }
    false
}

/// The `[workspace] members` of the root Cargo.toml.
fn workspace_members(manifest: &str) -> Vec<String> {
    let start = manifest.find("members = [").expect("root Cargo.toml has a `members = [` list");
    let list = &manifest[start + "members = [".len()..];
    let end = list.find(']').expect("members list is closed");
    list[..end]
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .flat_map(|line| line.split(','))
        .map(|item| item.trim().trim_matches('"').to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The `[package] name` of a crate manifest.
fn package_name(manifest: &str) -> Option<String> {
    let package = manifest.split("[package]").nth(1)?;
    let section = package.split("\n[").next()?;
    section.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
    })
}

#[test]
fn architecture_codemap_names_only_what_exists_and_every_crate() {
    let root = repo_root();
    let doc_path = root.join("docs/ARCHITECTURE.md");
    let doc = fs::read_to_string(&doc_path).expect("read docs/ARCHITECTURE.md");
    let rows = codemap_rows(&doc);
    assert!(rows.len() >= 5, "docs/ARCHITECTURE.md: found only {} codemap rows under `## Codemap`", rows.len());
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read root Cargo.toml");
    let members = workspace_members(&manifest);
    assert!(!members.is_empty(), "root Cargo.toml lists no workspace members");

    let mut problems = Vec::new();
    for row in &rows {
        let dir = root.join(&row.path);
        if !dir.exists() {
            problems.push(format!("line {}: the codemap names path `{}`, which does not exist", row.line, row.path));
            continue;
        }
        // A workspace member's crate column names its package.
        if members.contains(&row.path) {
            let crate_manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
            let actual = package_name(&crate_manifest);
            let named = row.rest.first().and_then(|cell| backticked(cell).first().copied());
            if actual.as_deref() != named {
                problems.push(format!(
                    "line {}: the codemap names crate {:?} for `{}`, whose package is {:?}",
                    row.line, named, row.path, actual
                ));
            }
        }
        for cell in &row.rest {
            for name in backticked(cell).into_iter().filter(|n| looks_like_path(n)) {
                let exists = if name.contains('/') {
                    let name = name.trim_end_matches('/');
                    root.join(name).exists() || dir.join(name).exists()
                } else {
                    found_below(&dir, name)
                };
                if !exists {
                    problems.push(format!(
                        "line {}: the codemap row `{}` names `{}`, which is not in {}",
                        row.line, row.path, name, row.path
                    ));
                }
            }
        }
    }
    for member in &members {
        if !rows.iter().any(|row| &row.path == member) {
            problems.push(format!("workspace member `{member}` (root Cargo.toml) has no row in the codemap"));
        }
    }
    // The reverse: a row for a crate under host/ that the workspace does not build.
    for row in rows.iter().filter(|row| row.path.starts_with("host/")) {
        if root.join(&row.path).join("Cargo.toml").is_file() && !members.contains(&row.path) {
            problems.push(format!(
                "line {}: the codemap row `{}` is a crate that is not a workspace member",
                row.line, row.path
            ));
        }
    }
    assert!(problems.is_empty(), "docs/ARCHITECTURE.md codemap is out of date:\n  {}", problems.join("\n  "));
}

#[test]
fn path_like_names_are_told_from_code_names() {
    for name in ["persist.rs", "build.sh", "fuzz/seeds/", "scripts/fuzz.sh", "host/server"] {
        assert!(looks_like_path(name), "{name} should look like a path");
    }
    for name in [
        "Dispatcher::handle",
        "escape()",
        "opensim:dispatcher@0.1.0",
        "$type",
        "bindgen!",
        "SceneLimits",
        "dispatcher-protocol",
    ] {
        assert!(!looks_like_path(name), "{name} should not look like a path");
    }
}
