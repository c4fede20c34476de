//! What the black-box CLI tests share: running `rampart` with input on stdin.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `rampart ARGS` with `stdin` as its standard input and collects its output.
pub(crate) fn run<I, S>(args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command may stop reading early (an oversized password); a broken pipe is then expected.
    if let Err(error) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    child.wait_with_output().unwrap()
}

/// The events of the audit trail in `trail`, in order, after `rampart audit verify` found
/// it intact. File names carry the first sequence number, zero-padded: name order is trail
/// order.
#[allow(dead_code, reason = "not every test binary reads audit trails")]
pub(crate) fn verified_audit_events(trail: &std::path::Path) -> Vec<serde_json::Value> {
    let verified = run(
        ["audit".as_ref(), "verify".as_ref(), trail.as_os_str()],
        b"",
    );
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(trail)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .map(|line| {
                    serde_json::from_str::<serde_json::Value>(line).unwrap()["event"].clone()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The reason codes of a refused password, from the JSON verdict a command printed on
/// stderr.
#[allow(dead_code, reason = "not every test binary checks password verdicts")]
pub(crate) fn rejection_codes(stderr: &[u8]) -> Vec<String> {
    let verdict: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(stderr).trim()).unwrap();
    verdict["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason["code"].as_str().unwrap().to_owned())
        .collect()
}
