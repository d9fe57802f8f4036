//! The runtime's modules depend on each other one way: no module reaches,
//! through any chain of `crate::` paths, back to itself. Read from the
//! sources, so a new cycle fails here and not in a reviewer's head.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable sources") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `text` without its `//` comments (docs name modules they do not use).
fn code(text: &str) -> String {
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The identifiers after each `crate::`, including those in a
/// `crate::{a, b::C}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                found.push(first.to_string());
            }
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            found.push(rest[..end].to_string());
        }
    }
    found
}

/// The module each name the crate root re-exports comes from
/// (`pub use error::{Error, Result};`).
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(used) = statement.trim().strip_prefix("pub use ") else { continue };
        let Some((module, items)) = used.split_once("::") else { continue };
        for item in items.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !item.is_empty() {
                names.entry(item.to_string()).or_insert_with(|| module.to_string());
            }
        }
    }
    names
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = code(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let names = root_names(&lib);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let top = relative.components().next().expect("a component");
        let module = top.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).expect("a source"));
        let deps = graph.entry(module.clone()).or_default();
        for path in crate_paths(&text) {
            let target = names.get(&path).cloned().unwrap_or(path);
            if target != module {
                deps.insert(target);
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    // A cycle: a module reachable from one of its own dependencies.
    let mut cycles = Vec::new();
    for (module, deps) in &graph {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = deps.iter().collect();
        while let Some(next) = todo.pop() {
            if next == module {
                cycles.push(module.clone());
                break;
            }
            if seen.insert(next.clone()) {
                todo.extend(graph.get(next).into_iter().flatten());
            }
        }
    }
    assert!(graph.len() > 10, "the sources were read: {graph:?}");
    assert_eq!(cycles, Vec::<String>::new(), "modules on a cycle; the graph: {graph:#?}");
}
