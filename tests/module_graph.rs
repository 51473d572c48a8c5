//! The modules of `src/` depend on each other one way only: this test fails when a file
//! refers to a module that (directly or through others) refers back to it.
//!
//! Files are the nodes. A file depends on another when its code (not its comments, strings
//! or tests) names that module: `crate::a::b`, `super::x`, `self::x`, or `x::…` for a child
//! module it declares. `mod x;` declarations and re-exports (`pub use …`) are not uses: a
//! parent that only re-exports its children stays below them. A re-exported name that the
//! file's own code then uses is a use.
//!
//! Run alone with `cargo test --test module_graph`; the failure lists each cycle with the
//! line that makes every step of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One source file: its module path (`["session", "cookie"]`) and its code.
struct Module {
    file: PathBuf,
    path: Vec<String>,
    code: String,
}

#[test]
fn src_has_no_module_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = load(&root);
    let graph = edges(&modules);
    let cycles = cycles(&graph);
    if !cycles.is_empty() {
        let mut report = String::from("module cycles in src/:\n");
        for cycle in &cycles {
            report.push_str(&format!("- {}\n", cycle.join(" <-> ")));
            for from in cycle {
                for (to, why) in &graph[from] {
                    if cycle.contains(to) {
                        report.push_str(&format!("    {from} -> {to}: {why}\n"));
                    }
                }
            }
        }
        panic!("{report}");
    }
}

#[test]
fn the_check_finds_a_cycle_and_accepts_one_way_code() {
    let module = |path: &[&str], code: &str| Module {
        file: PathBuf::from(format!("{}.rs", path.join("/"))),
        path: path.iter().map(|s| s.to_string()).collect(),
        code: strip(code),
    };
    // layer calls into routes, routes imports state back from layer: a cycle.
    let looping = vec![
        module(&[], "mod layer; mod routes; pub use layer::AuthLayer;"),
        module(
            &["layer"],
            "pub struct State; fn f() { crate::routes::handle(); }",
        ),
        module(&["routes"], "use crate::layer::State; pub fn handle() {}"),
    ];
    let found = cycles(&edges(&looping));
    assert_eq!(
        found,
        vec![vec!["layer.rs".to_owned(), "routes.rs".to_owned()]]
    );

    // The same with the state in a module of its own: one way, no cycle. A parent that
    // only re-exports a child is not a use; comments and strings do not count.
    let one_way = vec![
        module(
            &[],
            "mod layer; mod routes; mod state; pub use layer::AuthLayer;",
        ),
        module(
            &["state"],
            "pub struct State; // crate::layer::x\nconst S: &str = \"crate::routes::y\";",
        ),
        module(&["layer"], "fn f() { crate::routes::handle(); }"),
        module(&["routes"], "use crate::state::State; pub fn handle() {}"),
    ];
    assert!(cycles(&edges(&one_way)).is_empty());

    // A parent that uses a re-exported child item while the child uses the parent: a cycle.
    let parent_child = vec![
        module(
            &["session"],
            "mod memory; pub use self::memory::Store; pub const KEY: u8 = 1; fn f(_: Store) {}",
        ),
        module(&["session", "memory"], "use super::KEY; pub struct Store;"),
    ];
    assert_eq!(cycles(&edges(&parent_child)).len(), 1);

    // Test modules are not part of the graph.
    let tests = vec![
        module(
            &["a"],
            "pub fn f() {}\n#[cfg(test)]\nmod tests {\n use crate::b::g;\n}\n",
        ),
        module(&["b"], "pub fn g() { crate::a::f(); }"),
    ];
    assert!(cycles(&edges(&tests)).is_empty());
}

/// Every `.rs` file under `root`, with comments, literals and test modules removed.
fn load(root: &Path) -> Vec<Module> {
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .map(|file| {
            let relative = file.strip_prefix(root).expect("under src");
            let mut path: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if matches!(
                path.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                path.pop();
            }
            let text = fs::read_to_string(&file).expect("readable source");
            Module {
                file: relative.to_owned(),
                path,
                code: strip(&text),
            }
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code with comments and string/char literals blanked and inline test modules
/// (`#[cfg(test)] mod x { … }`) cut out, so only real paths remain.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // Raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}'), or else a lifetime.
            let literal_end = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&k| chars[k] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match literal_end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    cut_test_modules(&out)
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Removes `#[cfg(test)]` items whose body is a `mod … { … }` block.
fn cut_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_inline_mod = trimmed.starts_with("mod ")
            && trimmed
                .find(['{', ';'])
                .is_some_and(|p| trimmed.as_bytes()[p] == b'{');
        if !is_inline_mod {
            rest = after;
            continue;
        }
        let start = after.len() - trimmed.len();
        let open = start + trimmed.find('{').expect("checked above");
        let mut depth = 0;
        let mut end = after.len();
        for (k, ch) in after[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// file → (file it uses → the first line that uses it).
fn edges(modules: &[Module]) -> Graph {
    let by_path: BTreeMap<&[String], &Module> =
        modules.iter().map(|m| (m.path.as_slice(), m)).collect();
    let name = |m: &Module| m.file.to_string_lossy().replace('\\', "/");
    let mut graph: Graph = modules.iter().map(|m| (name(m), BTreeMap::new())).collect();
    for module in modules {
        let children = declared_children(&module.code);
        let statements = split_statements(&module.code);
        let mut reexported: Vec<(String, Vec<String>)> = Vec::new();
        let mut body_idents: BTreeSet<String> = BTreeSet::new();
        let mut uses: Vec<(Vec<String>, String)> = Vec::new();
        for statement in &statements {
            let is_reexport = is_pub_use(statement);
            let paths = paths_in(statement, &module.path, &children);
            if is_reexport {
                for (path, _) in paths {
                    if let Some(last) = path.last() {
                        reexported.push((last.clone(), path.clone()));
                    }
                }
            } else {
                for (path, at) in paths {
                    uses.push((path, line_at(statement, at)));
                }
                if !statement.trim_start().starts_with("use ") {
                    body_idents.extend(identifiers(statement));
                }
            }
        }
        for (item, path) in reexported {
            if body_idents.contains(&item) {
                uses.push((path, format!("uses re-exported `{item}`")));
            }
        }
        for (path, why) in uses {
            // The longest prefix of the path that is a module (a file).
            let target = (0..=path.len())
                .rev()
                .find_map(|n| by_path.get(&path[..n]).copied());
            let Some(target) = target else { continue };
            if target.path == module.path {
                continue;
            }
            graph
                .get_mut(&name(module))
                .expect("every module is a node")
                .entry(name(target))
                .or_insert(why);
        }
    }
    graph
}

/// Top-level-ish statements: the code split at `;`, `{` and `}` boundaries of `use` items,
/// good enough to tell `pub use …;` lines from the rest.
fn split_statements(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_use = false;
    let mut depth = 0usize;
    for line in code.lines() {
        let trimmed = line.trim_start();
        if !in_use && starts_use(trimmed) {
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current));
            }
            in_use = true;
            depth = 0;
        }
        current.push_str(line);
        current.push('\n');
        if in_use {
            depth += line.matches('{').count();
            depth = depth.saturating_sub(line.matches('}').count());
            if depth == 0 && line.trim_end().ends_with(';') {
                out.push(std::mem::take(&mut current));
                in_use = false;
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

fn starts_use(line: &str) -> bool {
    let line = strip_visibility(line);
    line.starts_with("use ")
}

fn strip_visibility(line: &str) -> &str {
    for prefix in ["pub(crate) ", "pub(super) ", "pub(self) ", "pub "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest;
        }
    }
    line
}

fn is_pub_use(statement: &str) -> bool {
    let t = statement.trim_start();
    t.starts_with("pub") && strip_visibility(t).starts_with("use ")
}

/// The line of `statement` holding the character at `at`.
fn line_at(statement: &str, at: usize) -> String {
    let before: String = statement.chars().take(at).collect();
    let start = before.rfind('\n').map_or(0, |n| n + 1);
    let line = statement[start..].lines().next().unwrap_or("");
    line.trim().chars().take(100).collect()
}

/// Names of `mod x;` / `mod x {` declarations (the file's child modules).
fn declared_children(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let t = strip_visibility(line.trim_start());
        if let Some(rest) = t.strip_prefix("mod ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn identifiers(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            current.push(c);
        } else if !current.is_empty() {
            out.insert(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.insert(current);
    }
    out
}

/// Every module path `text` names, made absolute: `crate::a::b`, `super::x`, `self::x`,
/// `child::x`, with `{…}` groups expanded to their first segments; each with the character
/// offset where it starts.
fn paths_in(text: &str, here: &[String], children: &BTreeSet<String>) -> Vec<(Vec<String>, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0
            || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        if !boundary || !(chars[i].is_alphabetic() || chars[i] == '_') {
            i += 1;
            continue;
        }
        let at = i;
        let (segments, groups, end) = read_path(&chars, i);
        i = end.max(i + 1);
        let Some(first) = segments.first() else {
            continue;
        };
        let (mut base, rest): (Vec<String>, &[String]) = match first.as_str() {
            "crate" => (Vec::new(), &segments[1..]),
            "self" => (here.to_vec(), &segments[1..]),
            "super" => {
                let mut base = here.to_vec();
                let mut n = 0;
                while segments.get(n).is_some_and(|s| s == "super") {
                    base.pop();
                    n += 1;
                }
                (base, &segments[n..])
            }
            child if children.contains(child) && segments.len() > 1 => {
                (here.to_vec(), &segments[..])
            }
            _ => continue,
        };
        base.extend(rest.iter().cloned());
        if groups.is_empty() {
            out.push((base, at));
        } else {
            for group in groups {
                let mut path = base.clone();
                path.extend(group);
                out.push((path, at));
            }
        }
    }
    out
}

/// Reads `a::b::c` (and a trailing `::{x::y, z}` group) starting at `start`. Returns the
/// segments, the group's item paths, and where reading stopped.
fn read_path(chars: &[char], start: usize) -> (Vec<String>, Vec<Vec<String>>, usize) {
    let mut segments = Vec::new();
    let mut i = start;
    loop {
        let word: String = chars[i..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect();
        if word.is_empty() {
            break;
        }
        i += word.chars().count();
        segments.push(word);
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            if chars.get(i) == Some(&'{') {
                let mut depth = 0;
                let mut inner = String::new();
                while i < chars.len() {
                    match chars[i] {
                        '{' => {
                            depth += 1;
                            if depth > 1 {
                                inner.push('{');
                            }
                        }
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                            inner.push('}');
                        }
                        c => inner.push(c),
                    }
                    i += 1;
                }
                let groups = top_level_items(&inner)
                    .into_iter()
                    .map(|item| {
                        item.split("::")
                            .map(|s| {
                                s.trim()
                                    .chars()
                                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                                    .collect::<String>()
                            })
                            .take_while(|s| !s.is_empty() && s != "self")
                            .collect::<Vec<_>>()
                    })
                    .collect();
                return (segments, groups, i);
            }
            continue;
        }
        break;
    }
    if segments.len() < 2 {
        return (Vec::new(), Vec::new(), i);
    }
    (segments, Vec::new(), i)
}

fn top_level_items(inner: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in inner.chars() {
        match c {
            '{' => {
                depth += 1;
                current.push(c);
            }
            '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The strongly connected components with more than one file (Tarjan), each sorted.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph[v].keys() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found.sort();
    t.found
}
