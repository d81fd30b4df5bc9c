//! The layout of hope-mc's sources (issue 20): no file over 1,000 lines, and no cycle in the graph
//! of its modules (module A depends on B when A's code, tests left out, names `crate::B...` or
//! reaches B through `super::`). Declaring a child module and re-exporting from it is not a
//! dependency of the parent on the child for this purpose; every other edge counts.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 1000;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `crate::a::b` for `src/a/b.rs` or `src/a/b/mod.rs`; `crate` for `src/lib.rs`.
fn module_of(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths written `head::a::b::...` in `code` (identifiers only, as segments).
fn paths<'a>(code: &'a str, head: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(head) {
        let before = rest[..i].chars().last();
        let tail = &rest[i + head.len()..];
        rest = tail;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut segs = Vec::new();
        let mut t = tail;
        while let Some(s) = t.strip_prefix("::") {
            let n = s
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(s.len());
            if n == 0 {
                break;
            }
            segs.push(&s[..n]);
            t = &s[n..];
        }
        out.push(segs);
    }
    out
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let known: BTreeSet<Vec<String>> = files.iter().map(|p| module_of(p)).collect();
    let longest = |mut p: Vec<String>| -> Option<Vec<String>> {
        while !p.is_empty() {
            if known.contains(&p) {
                return Some(p);
            }
            p.pop();
        }
        None
    };
    let mut edges = BTreeMap::new();
    for f in &files {
        let m = module_of(f);
        let text = code(&std::fs::read_to_string(f).unwrap());
        let mut out = BTreeSet::new();
        for segs in paths(&text, "crate") {
            if let Some(t) = longest(segs.iter().map(|s| s.to_string()).collect()) {
                out.insert(t);
            }
        }
        for segs in paths(&text, "super") {
            let mut p = m[..m.len().saturating_sub(1)].to_vec();
            p.extend(segs.iter().map(|s| s.to_string()));
            if let Some(t) = longest(p) {
                out.insert(t);
            }
        }
        // Children declared and re-exported by a module are not its dependencies.
        out.retain(|t| !(t.len() > m.len() && t[..m.len()] == m[..]) && *t != m);
        edges.insert(m, out);
    }
    edges
}

fn find_cycle(g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.clone());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for o in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(o, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_modules_depend_on_each_other_without_a_cycle() {
    let g = graph();
    // The checker sees the edges it must (a check of the checker).
    let m = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    assert!(
        g[&m("transport")].contains(&m("source")),
        "{:?}",
        g[&m("transport")]
    );
    assert!(g[&m("geometry/phantom".replace('/', "::").as_str())].contains(&m("material")));
    if let Some(c) = find_cycle(&g) {
        let names: Vec<String> = c
            .iter()
            .map(|p| format!("crate::{}", p.join("::")))
            .collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
    // Between top-level modules too (a directory counts as one).
    let mut top: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (a, outs) in &g {
        if a.is_empty() {
            continue;
        }
        for b in outs {
            if !b.is_empty() && a[0] != b[0] {
                top.entry(vec![a[0].clone()])
                    .or_default()
                    .insert(vec![b[0].clone()]);
            }
        }
    }
    if let Some(c) = find_cycle(&top) {
        let names: Vec<String> = c
            .iter()
            .map(|p| format!("crate::{}", p.join("::")))
            .collect();
        panic!(
            "import cycle between top-level modules: {}",
            names.join(" -> ")
        );
    }
}
