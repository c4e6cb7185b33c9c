//! Runs a browser script of `tests/node` (playwright-core driving Debian's headless
//! Chromium) and reads the one JSON line it prints. Screenshots go to
//! `$CARGO_TARGET_DIR/screenshots/<name>` (or the temp dir), kept as artifacts.
//!
//! Node, the packages and Chromium are required (`scripts/node-deps`, `scripts/browser`,
//! which `scripts/test` runs); a missing one fails the test loudly.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the screenshots of run `name` go (created).
pub fn screenshots(name: &str) -> PathBuf {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir())
        .join("screenshots")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `node tests/node/<script> <args…> <screenshot dir>`; panics with its output when
/// it fails, else returns what it printed.
pub async fn run(script: &str, args: &[&str], shots: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("node")
        .join(script);
    let modules = std::env::var("MEDGRID_TEST_NODE_MODULES")
        .unwrap_or_else(|_| "/var/tmp/medgrid-node/node_modules".into());
    let out = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .arg(shots)
        .env("MEDGRID_TEST_NODE_MODULES", modules)
        .output()
        .await
        .expect("node and Chromium are required (scripts/node-deps, scripts/browser)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Asserts every page a browser run checked with `audit` (chromium.mjs) broke no WCAG 2
/// A or AA rule and that the check ran (rules held), and that it checked at least `pages`.
pub fn assert_accessible(seen: &Value, pages: usize) {
    let checked = seen["accessibility"]
        .as_object()
        .unwrap_or_else(|| panic!("no accessibility checks in {seen}"));
    assert!(
        checked.len() >= pages,
        "{} pages checked: {seen}",
        checked.len()
    );
    for (page, result) in checked {
        assert_eq!(
            result["broken"],
            serde_json::json!([]),
            "WCAG 2 AA on {page}: {result}"
        );
        let held = result["passed"].as_u64().unwrap_or(0);
        assert!(held > 10, "the check of {page} ran: {result}");
    }
}
