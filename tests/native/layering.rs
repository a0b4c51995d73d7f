//! Dependencies point one way (ARCHITECTURE.md, "Dependencies"): no import cycles between the
//! library's top-level modules, between the files of one module, or between the CLI's files.
//! Read from the sources: every `crate::name` (and `super::name` inside a module) outside
//! comments is an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without `//` comments (doc comments cite other modules freely).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names following `prefix` (`crate::`, `super::`) in `src`.
fn targets<'a>(src: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    src.match_indices(prefix).filter_map(move |(i, _)| {
        let before = src[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &src[i + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// A cycle in `g`, if any, as the path around it.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        v: &str,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(v.to_string(), 1);
        path.push(v.to_string());
        for w in g.get(v).into_iter().flatten() {
            match state.get(w.as_str()) {
                Some(1) => {
                    let i = path.iter().position(|p| p == w).unwrap();
                    let mut c = path[i..].to_vec();
                    c.push(w.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(g, w, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(v.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in g.keys() {
        if !state.contains_key(v.as_str()) {
            if let Some(c) = visit(g, v, &mut state, &mut vec![]) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn module_dependencies_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut top = Graph::new();
    let mut inner: BTreeMap<String, Graph> = BTreeMap::new();
    for f in &files {
        let rel: Vec<String> = f
            .strip_prefix(&src)
            .unwrap()
            .with_extension("")
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let text = code(f);
        let (scope, node) = match rel.as_slice() {
            [lib] if lib == "lib" => continue,
            [b, cli, file] if b == "bin" => (format!("bin/{cli}"), file.clone()),
            [m] => ("".to_string(), m.clone()),
            [m, file, ..] => (m.clone(), file.clone()),
            _ => continue,
        };
        if scope.starts_with("bin/") {
            for t in targets(&text, "crate::") {
                if t != node {
                    inner
                        .entry(scope.clone())
                        .or_default()
                        .entry(node.clone())
                        .or_default()
                        .insert(t.into());
                }
            }
            continue;
        }
        let module = if scope.is_empty() {
            node.clone()
        } else {
            scope.clone()
        };
        for t in targets(&text, "crate::") {
            if t != module {
                top.entry(module.clone()).or_default().insert(t.into());
            }
        }
        if !scope.is_empty() && node != "mod" {
            let mine = inner.entry(scope.clone()).or_default();
            let mut add = |t: &str| {
                let file = src.join(&scope).join(format!("{t}.rs"));
                let dir = src.join(&scope).join(t);
                if t != node && t != "mod" && (file.exists() || dir.is_dir()) {
                    mine.entry(node.clone()).or_default().insert(t.into());
                }
            };
            for t in targets(&text, "super::") {
                add(t);
            }
            let own = format!("crate::{scope}::");
            for t in targets(&text, &own) {
                add(t);
            }
        }
    }
    assert!(top.len() > 10, "read {} modules: {top:?}", top.len());
    if let Some(c) = cycle(&top) {
        panic!("modules import each other: {}", c.join(" -> "));
    }
    for (scope, g) in &inner {
        if let Some(c) = cycle(g) {
            panic!("in {scope}: files import each other: {}", c.join(" -> "));
        }
    }
    // The check can fail: a cycle of two is found.
    let mut two = Graph::new();
    two.entry("a".into()).or_default().insert("b".into());
    two.entry("b".into()).or_default().insert("a".into());
    assert!(cycle(&two).is_some());
}
