//! Finding the examples' executables for the tests that run them.
//!
//! Cargo gives integration tests the paths of binaries (`CARGO_BIN_EXE_*`), not of examples.
//! So the examples are built once per test process with the cargo that runs the tests, with
//! the same features and profile, and cargo's JSON messages say where each executable is —
//! wherever the target directory is. When nothing changed this is a no-op of a few hundred
//! milliseconds.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// The executable of the example `name`, built on first use.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(build_examples);
    match built.get(name) {
        Some(path) => path.clone(),
        None => panic!("no example `{name}` was built; built: {:?}", built.keys()),
    }
}

/// The repository root (the root package's manifest directory).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The root package's features this test was built with, so the examples get the same ones.
fn features() -> Vec<&'static str> {
    let mut features = Vec::new();
    if cfg!(feature = "sqlite") {
        features.push("sqlite");
    }
    if cfg!(feature = "redis") {
        features.push("redis");
    }
    if cfg!(feature = "postgres") {
        features.push("postgres");
    }
    if cfg!(feature = "teloxide") {
        features.push("teloxide");
    }
    if cfg!(feature = "metrics") {
        features.push("metrics");
    }
    features
}

fn build_examples() -> HashMap<String, PathBuf> {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let mut command = Command::new(cargo);
    command
        .current_dir(root())
        .args([
            "build",
            "--examples",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--no-default-features")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // What cargo sets for running this test, not what a shell has: build scripts that watch
    // these (ring's watches CARGO_MANIFEST_DIR, CARGO_PKG_NAME, OUT_DIR) would run again, and
    // everything above them be rebuilt, here and again at the next `cargo test`.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || name.starts_with("CARGO_BIN_EXE_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name);
        if set_by_cargo {
            command.env_remove(name);
        }
    }
    let features = features();
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command.output().expect("cargo runs");
    assert!(output.status.success(), "building the examples failed");
    let mut built = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_example = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "example"));
        if message["reason"] == "compiler-artifact"
            && is_example
            && let (Some(name), Some(path)) = (
                message["target"]["name"].as_str(),
                message["executable"].as_str(),
            )
        {
            built.insert(name.to_owned(), PathBuf::from(path));
        }
    }
    built
}

/// Reads `lines` (a child's output) on a thread, so the child never blocks on a full pipe,
/// into the text returned; `on_line` sees each line as it comes.
pub fn keep_reading(
    lines: impl Iterator<Item = std::io::Result<String>> + Send + 'static,
    on_line: impl Fn(&str) + Send + 'static,
) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    std::thread::spawn({
        let text = Arc::clone(&text);
        move || {
            for line in lines.map_while(Result::ok) {
                on_line(&line);
                let mut text = text
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
        }
    });
    text
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("bot-session-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
