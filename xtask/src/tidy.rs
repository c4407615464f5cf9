//! Tidy checks over the workspace's Rust sources, run by `cargo xtask tidy` and as tests.

use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
