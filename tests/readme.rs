//! The README's example is `examples/readme.rs`, which CI builds: this fails when the two
//! drift apart (the code block, and the `Cargo.toml` dependencies shown with it).

use std::path::Path;

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced blocks of `markdown` whose info string starts with `lang`, without fences.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    /// Where a line is: outside any block, in a block of `lang` (its text so far), or in
    /// another block.
    enum At {
        Outside,
        Wanted(String),
        Other,
    }
    let mut found = Vec::new();
    let mut at = At::Outside;
    for line in markdown.lines() {
        let fence = line.trim_start().starts_with("```");
        at = match (at, fence) {
            (At::Outside, true) => {
                let info = line.trim_start().trim_start_matches('`');
                if info.starts_with(lang) {
                    At::Wanted(String::new())
                } else {
                    At::Other
                }
            }
            (At::Outside, false) => At::Outside,
            (At::Wanted(block), true) => {
                found.push(block);
                At::Outside
            }
            (At::Wanted(mut block), false) => {
                block.push_str(line);
                block.push('\n');
                At::Wanted(block)
            }
            (At::Other, true) => At::Outside,
            (At::Other, false) => At::Other,
        };
    }
    found
}

/// `examples/readme.rs` split into its `//!` header (without the markers) and its code.
fn example() -> (String, String) {
    let text = read("examples/readme.rs");
    let mut header = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next_if(|l| l.starts_with("//!")) {
        header.push_str(
            line.trim_start_matches("//!")
                .strip_prefix(' ')
                .unwrap_or(""),
        );
        header.push('\n');
    }
    let code: Vec<&str> = lines.skip_while(|l| l.is_empty()).collect();
    (header, code.join("\n") + "\n")
}

#[test]
fn the_readme_example_is_examples_readme_rs() {
    let readme = read("README.md");
    let (_, code) = example();
    let rust = blocks(&readme, "rust");
    assert!(
        rust.contains(&code),
        "README.md has no ```rust block equal to the code of examples/readme.rs; copy it \
         over (examples/readme.rs is what CI builds):\n{code}"
    );
}

#[test]
fn the_readme_shows_the_example_s_dependencies() {
    let readme = read("README.md");
    let (header, _) = example();
    let toml = blocks(&header, "toml");
    assert_eq!(
        toml.len(),
        1,
        "examples/readme.rs's header has one ```toml block"
    );
    assert!(
        blocks(&readme, "toml").contains(&toml[0]),
        "README.md has no ```toml block equal to the dependencies in examples/readme.rs's \
         header:\n{}",
        toml[0]
    );
    for dependency in ["axum", "tokio", "tower-oidc-login", "tracing-subscriber"] {
        assert!(
            toml[0].contains(&format!("\n{dependency} = ")),
            "{dependency} is missing from\n{}",
            toml[0]
        );
    }
}

#[test]
fn fenced_blocks_are_read_whole() {
    let markdown = "text\n```rust,no_run\nfn a() {}\n\nfn b() {}\n```\n```sh\nls\n```\n\
                    ```toml\n[x]\n```\n```text\n[y]\n```\n";
    assert_eq!(blocks(markdown, "rust"), ["fn a() {}\n\nfn b() {}\n"]);
    assert_eq!(blocks(markdown, "toml"), ["[x]\n"]);
    assert!(blocks(markdown, "python").is_empty());
}
