//! Keeps the module graph of the listed crates free of import cycles: a
//! module (a file of `src/`, or a directory of them, taken as one) that uses
//! another through `crate::...` or `super::...` depends on it, and no chain of
//! such dependencies may lead back to where it started. A failure names every
//! cycle with the file and line of each of its edges.
//!
//! The crates checked are [`ACYCLIC_CRATES`]; `MODULE_GRAPH_CRATES` (paths
//! from the repository root, comma separated) checks others instead, e.g.
//! `MODULE_GRAPH_CRATES=host/dispatch cargo test -p dispatcher --test module_graph`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

/// Crates whose modules must not import each other in a cycle (paths from the
/// repository root). Not yet listed: host/dispatch (context, pipeline,
/// registry, domain) and host/scene (part_index, region).
const ACYCLIC_CRATES: &[&str] = &[
    "host/guard",
    "host/protocol",
    "host/remote-control",
    "host/rest",
    "host/scripting",
    "host/server",
    "host/store",
];

fn repo_root() -> PathBuf {
    // host/server -> the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Where one module uses another.
#[derive(Clone, Debug)]
struct Use {
    file: String,
    line: usize,
}

/// The top-level modules of a crate and who uses whom (first use found).
struct Graph {
    edges: BTreeMap<String, BTreeMap<String, Use>>,
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file below `src`: `foo.rs` and `foo/mod.rs` are
/// `[foo]`, `foo/bar.rs` is `[foo, bar]`, `lib.rs` is `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("file below src");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_owned());
    }
    parts
}

/// The text with line comments blanked (line numbers kept).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !is_ident(c)).unwrap_or(text.len());
    &text[..end]
}

/// The first segments of the paths a `{...}` group at the start of `text`
/// names: `{a::b, c, d::{e}}` gives a, c, d.
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut expect_head = false;
    for (i, c) in text.char_indices() {
        match c {
            '{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            '}' => {
                if depth <= 1 {
                    break;
                }
                depth -= 1;
            }
            ',' if depth == 1 => expect_head = true,
            c if c.is_whitespace() => {}
            c if expect_head && is_ident(c) => {
                heads.push(ident(&text[i..]).to_owned());
                expect_head = false;
            }
            _ => expect_head = false,
        }
    }
    heads
}

/// Names the crate root re-exports (`pub use a::X;`, `pub use a::{X, Y as Z};`),
/// mapped to the top-level module they come from.
fn root_reexports(root: &str) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for statement in root.split(';') {
        let Some(at) = statement.find("pub use ") else { continue };
        let path = statement[at + "pub use ".len()..].trim();
        let path = path.strip_prefix("crate::").or_else(|| path.strip_prefix("self::")).unwrap_or(path);
        let module = ident(path).to_owned();
        let rest = &path[module.len()..];
        let leaves: Vec<String> = match rest.rfind("::{") {
            Some(i) => rest[i + 3..].trim_end_matches('}').split(',').map(str::to_owned).collect(),
            None => vec![rest.rsplit("::").next().unwrap_or("").to_owned()],
        };
        for leaf in leaves {
            let name = leaf.rsplit(" as ").next().unwrap_or("").trim().to_owned();
            if !name.is_empty() {
                names.insert(name, module.clone());
            }
        }
    }
    names
}

/// The module graph of the crate at `dir` (its `src/`).
fn graph(dir: &Path) -> Graph {
    let src = dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let root_file = ["lib.rs", "main.rs"].iter().map(|f| src.join(f)).find(|p| p.exists());
    let root_text = root_file.map(|f| fs::read_to_string(f).expect("crate root")).unwrap_or_default();
    let reexports = root_reexports(&without_comments(&root_text));
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_path(&src, f).first().cloned()).collect();
    let resolve = |name: &str| -> Option<String> {
        if modules.contains(name) {
            Some(name.to_owned())
        } else {
            // A re-export of another crate's item is no module of this one.
            reexports.get(name).filter(|m| modules.contains(*m)).cloned()
        }
    };
    let mut edges: BTreeMap<String, BTreeMap<String, Use>> = BTreeMap::new();
    for file in &files {
        let path = module_path(&src, file);
        let Some(from) = path.first().cloned() else { continue };
        edges.entry(from.clone()).or_default();
        let text = without_comments(&fs::read_to_string(file).expect("source file"));
        let shown = file.strip_prefix(dir).unwrap_or(file).display().to_string();
        for (number, line) in text.lines().enumerate() {
            let mut targets = Vec::new();
            for (at, _) in line.match_indices("crate::") {
                let before = line[..at].chars().next_back();
                if before.is_some_and(|c| is_ident(c) || c == '$') {
                    continue;
                }
                let after = &line[at + "crate::".len()..];
                if after.starts_with('{') {
                    // A group may span lines: read on from here.
                    let offset: usize = text.lines().take(number).map(|l| l.len() + 1).sum::<usize>() + at + "crate::".len();
                    targets.extend(group_heads(&text[offset..]));
                } else {
                    targets.push(ident(after).to_owned());
                }
            }
            for (at, _) in line.match_indices("super::") {
                let before = line[..at].chars().next_back();
                if before.is_some_and(|c| is_ident(c) || c == ':') {
                    continue;
                }
                let mut rest = &line[at..];
                let mut up = 0;
                while let Some(r) = rest.strip_prefix("super::") {
                    up += 1;
                    rest = r;
                }
                let base = &path[..path.len().saturating_sub(up)];
                let head = match base.first() {
                    Some(top) => vec![top.clone()],
                    None if rest.starts_with('{') => group_heads(rest),
                    None => vec![ident(rest).to_owned()],
                };
                targets.extend(head);
            }
            for target in targets {
                let Some(to) = resolve(&target) else { continue };
                if to != from {
                    edges.entry(from.clone()).or_default().entry(to).or_insert(Use {
                        file: shown.clone(),
                        line: number + 1,
                    });
                }
            }
        }
    }
    Graph { edges }
}

/// Every strongly connected set of more than one module, each shown as one
/// shortest cycle through its first module with the use behind every edge.
fn cycles(graph: &Graph) -> Vec<String> {
    let nodes: Vec<&String> = graph.edges.keys().collect();
    let reach = |start: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([start.to_owned()]);
        while let Some(n) = queue.pop_front() {
            for next in graph.edges.get(&n).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(next.clone()) {
                    queue.push_back(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for node in &nodes {
        if done.contains(*node) || !reachable[node].contains(*node) {
            continue;
        }
        let component: BTreeSet<String> = nodes
            .iter()
            .filter(|m| reachable[node].contains(**m) && reachable[*m].contains(*node))
            .map(|m| (*m).clone())
            .collect();
        done.extend(component.iter().cloned());
        // Shortest way back to `node` inside the component.
        let mut parent: HashMap<String, String> = HashMap::new();
        let mut queue = VecDeque::from([(*node).clone()]);
        'search: while let Some(n) = queue.pop_front() {
            for next in graph.edges[&n].keys().filter(|m| component.contains(*m)) {
                if next == *node {
                    parent.insert(format!("{next}'"), n.clone());
                    break 'search;
                }
                if !parent.contains_key(next) {
                    parent.insert(next.clone(), n.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut path = vec![(*node).clone()];
        let mut at = parent[&format!("{node}'")].clone();
        while at != **node {
            path.push(at.clone());
            at = parent[&at].clone();
        }
        path.push((*node).clone());
        path.reverse();
        let steps: Vec<String> = path
            .windows(2)
            .map(|w| {
                let u = &graph.edges[&w[0]][&w[1]];
                format!("{} -> {} ({}:{})", w[0], w[1], u.file, u.line)
            })
            .collect();
        let others: Vec<&String> = component.iter().filter(|m| !path.contains(m)).collect();
        let mut text = format!("cycle {}: {}", path.join(" -> "), steps.join(", "));
        if !others.is_empty() {
            text.push_str(&format!("; also in this knot: {others:?}"));
        }
        found.push(text);
    }
    found
}

#[test]
fn the_listed_crates_have_no_module_cycles() {
    let root = repo_root();
    let listed = std::env::var("MODULE_GRAPH_CRATES").ok();
    let crates: Vec<String> = match &listed {
        Some(list) => list.split(',').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect(),
        None => ACYCLIC_CRATES.iter().map(|c| (*c).to_owned()).collect(),
    };
    let mut failures = Vec::new();
    for krate in &crates {
        let g = graph(&root.join(krate));
        assert!(g.edges.len() > 1, "{krate}: found no modules");
        for cycle in cycles(&g) {
            failures.push(format!("{krate}: {cycle}"));
        }
    }
    assert!(failures.is_empty(), "module import cycles:\n{}", failures.join("\n"));
}

/// A throwaway crate written under the test's temporary directory.
fn write_crate(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("module-graph-{name}"));
    let _ = fs::remove_dir_all(&dir);
    for (path, text) in files {
        let file = dir.join("src").join(path);
        fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        fs::write(&file, text).expect("write");
    }
    dir
}

#[test]
fn a_cycle_through_groups_nested_files_and_root_reexports_is_named() {
    let dir = write_crate(
        "cycle",
        &[
            ("lib.rs", "mod a;\nmod b;\nmod c;\npub use c::{Thing, Other as Renamed};\n"),
            ("a.rs", "// use crate::c::Ignored; (a comment)\nuse crate::{\n    b::X,\n    self_made,\n};\n"),
            ("b.rs", "pub fn f() -> crate::Renamed { todo!() }\n"),
            ("c/mod.rs", "mod d;\npub struct Thing;\npub struct Other;\n"),
            ("c/d.rs", "use super::Thing;\nuse super::super::a::Y;\n"),
        ],
    );
    let found = cycles(&graph(&dir));
    assert_eq!(
        found,
        vec!["cycle a -> b -> c -> a: a -> b (src/a.rs:2), b -> c (src/b.rs:1), c -> a (src/c/d.rs:2)".to_owned()],
    );
}

#[test]
fn a_layered_crate_has_no_cycle() {
    let dir = write_crate(
        "layered",
        &[
            ("lib.rs", "mod a;\nmod b;\npub use b::Thing;\n"),
            ("a.rs", "use crate::b::Thing;\nuse crate::Thing as T;\n#[cfg(test)]\nmod tests { use super::*; }\n"),
            ("b/mod.rs", "mod c;\npub struct Thing;\n"),
            ("b/c.rs", "use super::Thing;\nuse crate::b::Thing as U;\n"),
        ],
    );
    let g = graph(&dir);
    assert_eq!(g.edges["a"].keys().collect::<Vec<_>>(), vec!["b"]);
    assert!(cycles(&g).is_empty());
}
