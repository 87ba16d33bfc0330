//! Script grants against the host as the binary wires it up (`serve::start`):
//! the grant of every request type is declared once beside the type
//! (`Request::GRANT`) and read here from the real registry, which holds every
//! type the host registers. docs/scripting.md's grant table and the scope
//! table of host/scripting (`scope_table!`) must say the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::*;

/// Grant → request types, from the registry of a started host.
fn associated_grants() -> BTreeMap<String, BTreeSet<String>> {
    let host = InProcessHost::start(|_| {});
    let mut table: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (type_name, grant) in host.dispatcher().registry().grants() {
        table.entry(grant.to_owned()).or_default().insert(type_name);
    }
    assert!(
        table.values().map(BTreeSet::len).sum::<usize>() > 50,
        "the registry lists every domain's types: {table:?}"
    );
    table
}

/// The text between the first pair of backticks of each backticked item.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The `| grant | message types |` table of docs/scripting.md: grant →
/// types, each grant's row once.
fn documented_grants(text: &str) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut lines = text.lines().skip_while(|l| l.replace(' ', "") != "|grant|messagetypes|");
    if lines.next().is_none() {
        return Err("docs/scripting.md has no `| grant | message types |` table".to_owned());
    }
    let mut table = BTreeMap::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
        let [grant, types] = cells[..] else {
            return Err(format!("a row of the grant table has not two cells: {line}"));
        };
        let [grant] = &backticked(grant)[..] else {
            return Err(format!("a row of the grant table names not one grant: {line}"));
        };
        if table
            .insert(grant.clone(), backticked(types).into_iter().collect::<BTreeSet<_>>())
            .is_some()
        {
            return Err(format!("grant `{grant}` has two rows"));
        }
    }
    Ok(table)
}

/// The rows in which two tables differ, named, with the types only one has.
fn differing_rows(docs: &BTreeMap<String, BTreeSet<String>>, registry: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let empty = BTreeSet::new();
    let grants: BTreeSet<&String> = docs.keys().chain(registry.keys()).collect();
    grants
        .into_iter()
        .filter_map(|g| {
            let (d, r) = (docs.get(g).unwrap_or(&empty), registry.get(g).unwrap_or(&empty));
            (d != r).then(|| {
                format!(
                    "row `{g}`: only in docs/scripting.md {:?}; only in the associated grants {:?}",
                    d.difference(r).collect::<Vec<_>>(),
                    r.difference(d).collect::<Vec<_>>()
                )
            })
        })
        .collect()
}

/// The table as docs/scripting.md should hold it (printed on failure).
fn markdown(table: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::from("| grant | message types |\n| --- | --- |\n");
    for (grant, types) in table {
        let types: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
        out.push_str(&format!("| `{grant}` | {} |\n", types.join(", ")));
    }
    out
}

#[test]
fn scripting_grant_table_in_the_docs_is_the_associated_grants() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scripting.md");
    let text = std::fs::read_to_string(&path).expect("docs/scripting.md");
    let registry = associated_grants();
    let docs = documented_grants(&text).unwrap_or_else(|e| panic!("{e}"));
    let rows = differing_rows(&docs, &registry);
    assert!(
        rows.is_empty(),
        "docs/scripting.md's grant table differs:\n{}\n\nthe table from the associated grants:\n{}",
        rows.join("\n"),
        markdown(&registry)
    );
}

/// The comparison names the rows that differ, and only those.
#[test]
fn scripting_grant_table_comparison_names_the_differing_rows() {
    let text =
        "x\n| grant | message types |\n| --- | --- |\n| `chat` | `A.ChatRequest` |\n| `objects:read` | `A.X`, `A.Y` (note) |\n\nafter\n";
    let docs = documented_grants(text).expect("parses");
    let mut registry = docs.clone();
    assert!(differing_rows(&docs, &registry).is_empty());
    registry.get_mut("objects:read").expect("row").remove("A.Y");
    registry.entry("assets:read".to_owned()).or_default().insert("A.Z".to_owned());
    let rows = differing_rows(&docs, &registry);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].starts_with("row `assets:read`") && rows[0].contains("\"A.Z\""), "{rows:?}");
    assert!(rows[1].starts_with("row `objects:read`") && rows[1].contains("\"A.Y\""), "{rows:?}");
    assert!(documented_grants("| grant | message types |\n| --- | --- |\n| `a` | `X` |\n| `a` | `Y` |\n").is_err());
    assert!(documented_grants("no table").is_err());
}

/// Every request type whose associated grant a script can hold has a row in
/// the scope table (so `messages.send` can send it, with its scope checked),
/// with the same grant; no other type has one.
#[test]
fn scripting_every_grantable_request_type_has_a_scope_rule() {
    let registry = associated_grants();
    let sendable: BTreeSet<(String, String)> = registry
        .iter()
        .filter(|(g, _)| dispatcher_scripting::grants::grant_bit(g) != 0)
        .flat_map(|(g, types)| types.iter().map(move |t| (t.clone(), g.clone())))
        .collect();
    let scoped: BTreeSet<(String, String)> = dispatcher_scripting::scope::SCOPED_TYPES
        .iter()
        .map(|(t, g)| ((*t).to_owned(), (*g).to_owned()))
        .collect();
    assert_eq!(scoped, sendable, "scope table (left) and the request types with a grantable grant (right)");
    assert!(
        registry
            .get(dispatcher_scripting::grants::DISPATCHER_GRANT)
            .is_some_and(|t| t.len() >= 6),
        "{registry:?}"
    );
}
