//! Helpers for tests (feature `test-util`).

use std::path::PathBuf;

/// A fresh, empty directory under the system temporary directory, unique to `name` and
/// this process; whatever an earlier run with the same name left there is removed.
///
/// # Panics
/// The directory cannot be created: a test cannot run without it.
#[expect(clippy::panic, reason = "a test helper fails the test")]
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rampart-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(error) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {error}", dir.display());
    }
    dir
}
