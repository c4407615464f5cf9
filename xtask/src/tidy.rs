//! Tidy checks over the workspace, run by `cargo xtask tidy` and as tests.
//!
//! [`check`] reads the Rust sources (leftover macros, crate-root docs, absolute paths);
//! [`architecture`] checks the architecture invariants of docs/ARCHITECTURE.md, against
//! the dependency graph (`cargo metadata --no-deps` for our crates, `Cargo.lock` below
//! them) and the library crates' sources. Every
//! invariant there names the test here that checks it (a test of the same name as its
//! check function, in `mod tests`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Everything of a file before its first `#[cfg(test)]` (unit tests sit at the end).
fn non_test_part(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// Lists every problem found under `root`, one line each (`path: what`).
pub fn check(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut problems = Vec::new();
    // Built from pieces so this file does not flag itself.
    let dbg = concat!("dbg", "!(");
    let todo = concat!("todo", "!(");
    let unimplemented = concat!("unimplemented", "!(");
    let home = concat!("/ro", "ot/");
    let work = concat!("/wo", "rk/");
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let shown = file.strip_prefix(root).unwrap_or(file).display();
        let is_test = file.components().any(|c| c.as_os_str() == "tests");
        if text.contains(dbg) {
            problems.push(format!("{shown}: leftover dbg! macro"));
        }
        if !is_test {
            let code = non_test_part(&text);
            if code.contains(todo) || code.contains(unimplemented) {
                problems.push(format!("{shown}: todo!/unimplemented! outside tests"));
            }
        }
        if text.contains(home) || text.contains(work) {
            problems.push(format!("{shown}: absolute path of a developer machine"));
        }
        let is_root = file.ends_with("src/lib.rs") || file.ends_with("src/main.rs");
        if is_root && !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "{shown}: crate root must start with a //! doc paragraph"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Architecture invariants (docs/ARCHITECTURE.md)
// ---------------------------------------------------------------------------------------

/// The library crates: everything but the `tdal` binary (tdal-cli) and xtask.
pub const LIBRARIES: [&str; 6] = [
    "tdal-acquire",
    "tdal-heads",
    "tdal-data",
    "tdal-encoders",
    "tdal-loop",
    "tdal-label",
];

/// For each workspace crate, the workspace crates it may depend on (normal and build
/// dependencies; dev-dependencies aside). A new crate must be added here and to the code
/// map of docs/ARCHITECTURE.md.
const ALLOWED_DEPENDENCIES: [(&str, &[&str]); 8] = [
    ("tdal-acquire", &[]),
    ("tdal-heads", &[]),
    ("tdal-data", &[]),
    ("tdal-encoders", &["tdal-data"]),
    (
        "tdal-loop",
        &["tdal-acquire", "tdal-heads", "tdal-data", "tdal-encoders"],
    ),
    ("tdal-label", &["tdal-data", "tdal-encoders", "tdal-loop"]),
    (
        "tdal-cli",
        &[
            "tdal-acquire",
            "tdal-heads",
            "tdal-data",
            "tdal-encoders",
            "tdal-loop",
            "tdal-label",
        ],
    ),
    (
        "xtask",
        &[
            "tdal-acquire",
            "tdal-heads",
            "tdal-data",
            "tdal-encoders",
            "tdal-loop",
            "tdal-label",
        ],
    ),
];

/// Crates only the binaries choose: error reports, progress bars, log output, allocator.
const BINARY_ONLY_DEPENDENCIES: [&str; 4] =
    ["anyhow", "indicatif", "tracing-subscriber", "mimalloc"];

/// The workspace's dependency graph: its crates' declared dependencies and features from
/// `cargo metadata --no-deps`, everything below them from `Cargo.lock` (the resolved
/// graph; reading it needs no package downloaded, unlike a full `cargo metadata`).
#[derive(Debug)]
pub struct Graph {
    /// Workspace crate name → its normal and build dependencies (optional ones included)
    /// and its feature table.
    members: BTreeMap<String, Member>,
    /// Package name → the dependencies listed in `Cargo.lock` for each of its versions
    /// (each `name` or `name version`; for a workspace crate, dev-dependencies too).
    locked: HashMap<String, Vec<(String, Vec<String>)>>,
}

#[derive(Debug, Default)]
struct Member {
    shipped: Vec<String>,
    features: BTreeMap<String, Vec<String>>,
}

impl Graph {
    /// Runs `cargo metadata --format-version 1 --no-deps --offline` on the workspace at
    /// `root` and reads its `Cargo.lock`.
    ///
    /// # Errors
    /// Cargo cannot be run or fails (its stderr is the message), its output is not the
    /// format-version 1 JSON, or `Cargo.lock` cannot be read.
    pub fn load(root: &Path) -> Result<Self, String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let json: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
        let lock = std::fs::read_to_string(root.join("Cargo.lock"))
            .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
        Self::new(&json, &lock)
    }

    /// Builds the graph from `cargo metadata --no-deps`' JSON (format version 1) and the
    /// text of `Cargo.lock`.
    ///
    /// # Errors
    /// A field the graph needs is missing.
    pub fn new(metadata: &Value, lock: &str) -> Result<Self, String> {
        let mut members = BTreeMap::new();
        for package in list(metadata, "packages")? {
            let mut shipped = Vec::new();
            for dep in list(package, "dependencies")? {
                // `kind` is null for normal dependencies, "build" or "dev" otherwise.
                if dep["kind"].as_str() != Some("dev") {
                    shipped.push(str_of(dep, "name")?);
                }
            }
            let features = serde_json::from_value(package["features"].clone()).unwrap_or_default();
            members.insert(str_of(package, "name")?, Member { shipped, features });
        }
        Ok(Self {
            members,
            locked: parse_lock(lock),
        })
    }

    /// Names of `krate`'s direct normal and build dependencies.
    fn direct(&self, krate: &str) -> Vec<&str> {
        self.members
            .get(krate)
            .map(|m| m.shipped.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Names of every crate `krate` builds with, transitively (dev-dependencies left out;
    /// every platform and optional dependency counted).
    fn closure(&self, krate: &str) -> BTreeSet<&str> {
        let mut names = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(&str, Option<&str>)> =
            self.direct(krate).into_iter().map(|d| (d, None)).collect();
        while let Some((name, version)) = stack.pop() {
            if !seen.insert((name, version)) {
                continue;
            }
            names.insert(name);
            if let Some(member) = self.members.get(name) {
                stack.extend(member.shipped.iter().map(|d| (d.as_str(), None)));
                continue;
            }
            for (v, deps) in self.locked.get(name).into_iter().flatten() {
                if version.is_none_or(|version| version == v) {
                    stack.extend(deps.iter().map(|d| {
                        let mut parts = d.split(' ');
                        (parts.next().unwrap_or_default(), parts.next())
                    }));
                }
            }
        }
        names
    }
}

/// `Cargo.lock`'s packages: name → (version, dependency entries) for each version.
fn parse_lock(lock: &str) -> HashMap<String, Vec<(String, Vec<String>)>> {
    let mut packages: HashMap<String, Vec<(String, Vec<String>)>> = HashMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let value = |key: &str| {
            block.lines().find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.trim().strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_owned())
            })
        };
        let (Some(name), Some(version)) = (value("name"), value("version")) else {
            continue;
        };
        let deps = block
            .split_once("dependencies = [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(inside, _)| {
                inside
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        packages.entry(name).or_default().push((version, deps));
    }
    packages
}

fn str_of(v: &Value, key: &str) -> Result<String, String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("cargo metadata: no `{key}` string"))
}

fn list<'v>(v: &'v Value, key: &str) -> Result<&'v Vec<Value>, String> {
    v[key]
        .as_array()
        .ok_or_else(|| format!("cargo metadata: no `{key}` array"))
}

fn is_deep_learning_framework(name: &str) -> bool {
    name.starts_with("candle")
        || name.starts_with("burn")
        || matches!(name, "tch" | "torch-sys" | "ort" | "tensorflow")
}

/// tdal-acquire, tdal-heads and tdal-data build with no deep-learning framework (candle
/// enters through tdal-encoders only).
fn candle_only_through_encoders(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for krate in ["tdal-acquire", "tdal-heads", "tdal-data"] {
        for dep in graph.closure(krate) {
            if is_deep_learning_framework(dep) {
                problems.push(format!(
                    "{krate}: depends (transitively) on the deep-learning framework {dep}; \
                     only tdal-encoders and the crates above it may"
                ));
            }
        }
    }
    problems
}

/// Workspace crates depend on each other only downwards, as [`ALLOWED_DEPENDENCIES`] says.
fn dependency_direction(graph: &Graph) -> Vec<String> {
    let allowed: HashMap<&str, &[&str]> = ALLOWED_DEPENDENCIES.into_iter().collect();
    let mut problems = Vec::new();
    for krate in graph.members.keys() {
        let Some(ok) = allowed.get(krate.as_str()) else {
            problems.push(format!(
                "{krate}: a new workspace crate; add it to ALLOWED_DEPENDENCIES in \
                 xtask/src/tidy.rs and to the code map of docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in graph.direct(krate) {
            if graph.members.contains_key(dep) && !ok.contains(&dep) {
                problems.push(format!(
                    "{krate}: depends on {dep}, against the dependency direction of \
                     docs/ARCHITECTURE.md (allowed: {ok:?})"
                ));
            }
        }
    }
    problems
}

/// Library crates do not depend on the binaries' error, progress, log or allocator crates.
fn libraries_leave_binaries_their_dependencies(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for krate in LIBRARIES {
        for dep in graph.direct(krate) {
            if BINARY_ONLY_DEPENDENCIES.contains(&dep) {
                problems.push(format!(
                    "{krate}: depends on {dep}, which only the binaries (tdal-cli, xtask) choose"
                ));
            }
        }
    }
    problems
}

/// No workspace crate turns on a `cuda` feature by default, directly or through a feature.
fn gpu_is_opt_in(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for (krate, Member { features, .. }) in &graph.members {
        let mut stack: Vec<&str> = vec!["default"];
        let mut seen = BTreeSet::new();
        while let Some(feature) = stack.pop() {
            if !seen.insert(feature) {
                continue;
            }
            for entry in features.get(feature).into_iter().flatten() {
                if entry == "cuda" || entry.ends_with("/cuda") {
                    problems.push(format!(
                        "{krate}: the default features turn on `{entry}`; GPU support must \
                         stay opt-in"
                    ));
                } else if features.contains_key(entry) {
                    stack.push(entry);
                }
            }
        }
    }
    problems
}

/// `text` with every item under `#[cfg(test)]` blanked out (newlines kept, so line numbers
/// stay right).
fn without_test_items(text: &str) -> String {
    const ATTRIBUTE: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(ATTRIBUTE) {
        out.push_str(&rest[..start]);
        let end = start + ATTRIBUTE.len() + item_len(&rest[start + ATTRIBUTE.len()..]);
        out.extend(rest[start..end].chars().filter(|&c| c == '\n'));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The length of the item at the start of `s` (after its attribute): up to its first `;`
/// outside braces, or to the `}` closing its first `{`. Line comments, string literals and
/// `'{'` / `'}'` character literals are skipped; that is enough for this workspace's code.
fn item_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut depth = 0_usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 2,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// The lines (1-based) of `text` outside `#[cfg(test)]` items and comments that contain
/// one of `needles`, with the needle found.
fn lines_with<'n>(text: &str, needles: &[&'n str]) -> Vec<(usize, &'n str)> {
    without_test_items(text)
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter_map(|(i, line)| {
            needles
                .iter()
                .find(|needle| line.contains(**needle))
                .map(|needle| (i + 1, *needle))
        })
        .collect()
}

/// Every `(file, line, needle)` of the library crates' `src/` outside tests.
fn library_lines_with(root: &Path, needles: &[&str], what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for krate in LIBRARIES {
        let mut files = Vec::new();
        rust_files(&root.join("crates").join(krate).join("src"), &mut files);
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let shown = file.strip_prefix(root).unwrap_or(&file).display();
            for (line, needle) in lines_with(&text, needles) {
                problems.push(format!("{shown}:{line}: `{needle}` {what}"));
            }
        }
    }
    problems
}

/// Library crates never print: no print macros, `dbg!` or standard streams outside tests.
fn library_crates_never_print(root: &Path) -> Vec<String> {
    // Built from pieces so this file does not flag itself.
    let needles = [
        concat!("eprint", "ln!"),
        concat!("print", "ln!"),
        concat!("eprint", "!"),
        concat!("print", "!"),
        concat!("dbg", "!"),
        concat!("io::", "stdout"),
        concat!("io::", "stderr"),
    ];
    library_lines_with(
        root,
        &needles,
        "in a library crate: report through a return value, an Error or an Observer event",
    )
}

/// Library crates draw randomness only from seeds: no entropy-seeded generators.
fn randomness_is_seeded(root: &Path) -> Vec<String> {
    let needles = [
        concat!("thread", "_rng"),
        concat!("rand::", "rng()"),
        concat!("rand::", "random"),
        concat!("from_os", "_rng"),
        concat!("from_en", "tropy"),
        concat!("Os", "Rng"),
    ];
    library_lines_with(
        root,
        &needles,
        "in a library crate: take a seed or an `&mut impl Rng` instead",
    )
}

/// docs/ARCHITECTURE.md has a `### \`crate\`` section for every workspace crate.
fn code_map_lists_every_crate(graph: &Graph, root: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap_or_default();
    graph
        .members
        .keys()
        .filter(|krate| !doc.contains(&format!("### `{krate}`")))
        .map(|krate| format!("docs/ARCHITECTURE.md: no code-map section \"### `{krate}`\""))
        .collect()
}

/// Every "**Architecture invariant:**" paragraph of docs/ARCHITECTURE.md names the tidy
/// test that checks it ("tidy test `name`", a test of this file) or says it is
/// "not machine-checked".
fn invariants_name_their_tests(root: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap_or_default();
    let tests = include_str!("tidy.rs");
    let mut problems = Vec::new();
    let marker = "**Architecture invariant:**";
    if !doc.contains(marker) {
        problems.push("docs/ARCHITECTURE.md: no architecture invariant found".to_owned());
    }
    for paragraph in doc
        .split("\n\n")
        .filter(|p| p.trim_start().starts_with(marker))
    {
        // One line, whatever the wrapping.
        let paragraph = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut named = paragraph.split("tidy test `").skip(1).peekable();
        let unchecked = paragraph.to_lowercase().contains("not machine-checked");
        if named.peek().is_none() && !unchecked {
            let start: String = paragraph.chars().take(90).collect();
            problems.push(format!(
                "docs/ARCHITECTURE.md: invariant names no tidy test: {start}…"
            ));
        }
        for rest in named {
            let name = rest.split('`').next().unwrap_or_default();
            if !tests.contains(&format!("fn {name}() {{")) {
                problems.push(format!(
                    "docs/ARCHITECTURE.md: names tidy test `{name}`, which xtask/src/tidy.rs \
                     does not have"
                ));
            }
        }
    }
    problems
}

/// Every architecture invariant, one problem a line.
pub fn architecture(root: &Path) -> Vec<String> {
    let mut problems = library_crates_never_print(root);
    problems.extend(randomness_is_seeded(root));
    problems.extend(invariants_name_their_tests(root));
    match Graph::load(root) {
        Ok(graph) => {
            problems.extend(candle_only_through_encoders(&graph));
            problems.extend(dependency_direction(&graph));
            problems.extend(libraries_leave_binaries_their_dependencies(&graph));
            problems.extend(gpu_is_opt_in(&graph));
            problems.extend(code_map_lists_every_crate(&graph, root));
        }
        Err(e) => problems.push(e),
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// The workspace's graph, loaded once for all tests of this process.
    fn graph() -> &'static Graph {
        static GRAPH: OnceLock<Graph> = OnceLock::new();
        GRAPH.get_or_init(|| Graph::load(&workspace_root()).unwrap())
    }

    fn assert_none(problems: &[String]) {
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn workspace_is_tidy() {
        let problems = check(&workspace_root());
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn tidy_finds_planted_problems() {
        let dir = std::env::temp_dir().join(format!("tdal-tidy-{}", std::process::id()));
        let src = dir.join("crates/demo/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("lib.rs"),
            format!(
                "fn f() {{ {}1); {}) }}\n",
                concat!("dbg", "!("),
                concat!("todo", "!(")
            ),
        )
        .unwrap();
        let problems = check(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn candle_only_through_encoders() {
        assert_none(&super::candle_only_through_encoders(graph()));
        // The check sees candle where it is: below tdal-encoders.
        assert!(graph().closure("tdal-encoders").contains("candle-core"));
    }

    #[test]
    fn dependency_direction() {
        assert_none(&super::dependency_direction(graph()));
    }

    #[test]
    fn libraries_leave_binaries_their_dependencies() {
        assert_none(&super::libraries_leave_binaries_their_dependencies(graph()));
    }

    #[test]
    fn gpu_is_opt_in() {
        assert_none(&super::gpu_is_opt_in(graph()));
    }

    #[test]
    fn library_crates_never_print() {
        assert_none(&super::library_crates_never_print(&workspace_root()));
    }

    #[test]
    fn randomness_is_seeded() {
        assert_none(&super::randomness_is_seeded(&workspace_root()));
    }

    #[test]
    fn code_map_lists_every_crate() {
        assert_none(&super::code_map_lists_every_crate(
            graph(),
            &workspace_root(),
        ));
    }

    #[test]
    fn invariants_name_their_tests() {
        assert_none(&super::invariants_name_their_tests(&workspace_root()));
    }

    #[test]
    fn test_items_are_skipped_and_the_rest_is_not() {
        let print = concat!("print", "ln!");
        let text = format!(
            "fn a() {{ {print}(\"{{x}}\"); }}\n\
             #[cfg(test)]\n\
             #[allow(unused)]\n\
             fn helper() {{ let c = '}}'; {print}(\"{{{{ }}\"); }}\n\
             #[cfg(test)]\n\
             use std::fmt;\n\
             // {print} in a comment\n\
             fn b() {{ {print}(); }}\n\
             #[cfg(test)]\n\
             mod tests {{\n    fn t() {{ {print}(); }}\n}}\n"
        );
        assert_eq!(lines_with(&text, &[print]), vec![(1, print), (8, print)]);
    }

    #[test]
    fn graph_checks_find_planted_problems() {
        // tdal-acquire → tdal-loop (upwards; a dev-dependency on proptest does not count)
        // and through it and `wgpu` → candle-core 0.2 (the lock holds two versions);
        // tdal-heads → anyhow; tdal-data's default features turn on cuda; tdal-new is in
        // no table.
        let dep = |name: &str, kind: Value| serde_json::json!({ "name": name, "kind": kind });
        let package = |name: &str, deps: Vec<Value>, features: Value| serde_json::json!({ "name": name, "dependencies": deps, "features": features });
        let none = || serde_json::json!({});
        let metadata = serde_json::json!({ "packages": [
            package(
                "tdal-acquire",
                vec![dep("tdal-loop", Value::Null), dep("proptest", "dev".into())],
                none(),
            ),
            package("tdal-loop", vec![dep("wgpu", Value::Null)], none()),
            package("tdal-heads", vec![dep("anyhow", "build".into())], none()),
            package(
                "tdal-data",
                vec![],
                serde_json::json!({ "default": ["gpu"], "gpu": ["cuda"], "cuda": [] }),
            ),
            package("tdal-new", vec![], none()),
        ] });
        let lock = r#"
version = 4

[[package]]
name = "wgpu"
version = "1.0.0"
dependencies = [
 "candle-core 0.2.0",
]

[[package]]
name = "candle-core"
version = "0.1.0"
dependencies = [
 "zip",
]

[[package]]
name = "candle-core"
version = "0.2.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "half",
]

[[package]]
name = "half"
version = "2.0.0"
"#;
        let graph = Graph::new(&metadata, lock).unwrap();
        assert_eq!(
            graph.closure("tdal-acquire"),
            BTreeSet::from(["tdal-loop", "wgpu", "candle-core", "half"])
        );
        assert_eq!(super::candle_only_through_encoders(&graph).len(), 1);
        let direction = super::dependency_direction(&graph);
        assert_eq!(direction.len(), 2, "{direction:?}");
        assert_eq!(
            super::libraries_leave_binaries_their_dependencies(&graph).len(),
            1
        );
        assert_eq!(super::gpu_is_opt_in(&graph).len(), 1);
    }
}
