//! `rampart audit` as a black box, and the crash test: a writer killed with SIGKILL at
//! many different moments never loses an acknowledged event, and the next writer
//! continues the chain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;

fn rampart() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rampart-cli-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn event_line(n: u64) -> String {
    format!(
        r#"{{"action":"authn.attempt","outcome":"failure","actor":{{"username":"user-{n}"}},"reason":"invalid_credentials"}}"#
    )
}

/// Every (seq → chain) in the trail's files, read line by line (a torn tail is skipped).
fn records(dir: &Path) -> BTreeMap<u64, String> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let Ok(value) = serde_json::from_str::<Value>(line) {
                found.insert(
                    value["seq"].as_u64().unwrap(),
                    value["chain"].as_str().unwrap().to_owned(),
                );
            }
        }
    }
    found
}

fn verify(dir: &Path, head: Option<&str>) -> (i32, Value) {
    let mut command = rampart();
    command.args(["audit", "verify"]).arg(dir);
    if let Some(head) = head {
        command.args(["--head", head]);
    }
    let output = command.output().unwrap();
    let summary = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap(), summary)
}

/// SplitMix64, so that kill points differ between rounds but reproduce between runs.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn sigkill_at_random_moments_never_loses_an_acknowledged_event() {
    let mut seed = 0x5eed_u64;
    for (round, mode) in ["every_event", "group_commit"]
        .iter()
        .cycle()
        .take(16)
        .enumerate()
    {
        let dir = temp(&format!("crash-{round}"));
        let mut acknowledged: Vec<(u64, String)> = Vec::new();
        let mut next_event = 0u64;
        // Several writers in a row on the same directory, each killed mid-stream.
        for _ in 0..3 {
            let mut child = rampart()
                .args(["audit", "record", "--dir"])
                .arg(&dir)
                .args(["--durability", mode, "--max-file-bytes", "8192"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let feeder = {
                let start = next_event;
                std::thread::spawn(move || {
                    for n in start..start + 5_000 {
                        if writeln!(stdin, "{}", event_line(n)).is_err() {
                            break;
                        }
                    }
                })
            };
            next_event += 5_000;
            let kill_after = 1 + next(&mut seed) % 120;
            let mut acks = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            let mut seen = 0;
            while seen < kill_after {
                line.clear();
                if acks.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                let ack: Value = serde_json::from_str(&line).unwrap();
                acknowledged.push((
                    ack["seq"].as_u64().unwrap(),
                    ack["chain"].as_str().unwrap().to_owned(),
                ));
                seen += 1;
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            let _ = feeder.join();

            // Everything acknowledged is on disk, byte for byte.
            let on_disk = records(&dir);
            for (seq, chain) in &acknowledged {
                assert_eq!(
                    on_disk.get(seq),
                    Some(chain),
                    "round {round} ({mode}): acknowledged record {seq} missing or different"
                );
            }
            // The trail verifies, at most with a torn tail; it contains the last acknowledgement.
            let (seq, chain) = acknowledged.last().unwrap();
            let (code, summary) = verify(&dir, Some(&format!("{seq}:{chain}")));
            assert!(
                code == 0 || code == 3,
                "round {round} ({mode}): verify exit {code}: {summary}"
            );
        }
        // A clean writer continues the chain after the last crash.
        let mut child = rampart()
            .args(["audit", "record", "--dir"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{}", event_line(999_999)).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        let last: Value = serde_json::from_slice(&output.stdout).unwrap();
        let head = format!("{}:{}", last["seq"], last["chain"].as_str().unwrap());
        let (code, summary) = verify(&dir, Some(&head));
        assert_eq!(code, 0, "round {round}: {summary}");
        assert!(summary["records"].as_u64().unwrap() as usize > acknowledged.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn record_refuses_bad_lines_and_keeps_the_rest() {
    let dir = temp("bad-lines");
    let input = [
        event_line(1),
        "not json".to_owned(),
        r#"{"action":"authn.attempt","outcome":"failure","actor":{}}"#.to_owned(),
        r#"{"action":"made.up","outcome":"failure","actor":{"username":"a"}}"#.to_owned(),
        r#"{"action":"authn.attempt","code":"RA2001","outcome":"failure","actor":{"username":"a"}}"#.to_owned(),
        r#"{"action":"authn.attempt","outcome":"failure","actor":{"username":"a"},"password":"hunter2"}"#.to_owned(),
        event_line(2),
    ]
    .join("\n");
    let args = [
        OsStr::new("audit"),
        OsStr::new("record"),
        OsStr::new("--dir"),
        dir.as_os_str(),
    ];
    let output = common::run(args, input.as_bytes());
    assert_eq!(output.status.code(), Some(1), "some lines were refused");
    let acks: Vec<Value> = output
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(acks.len(), 2);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 5, "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "input values are not echoed: {stderr}"
    );
    assert_eq!(verify(&dir, None).0, 0);

    let shown = rampart()
        .args(["audit", "show"])
        .arg(&dir)
        .args(["--user", "user-2", "--json"])
        .output()
        .unwrap();
    let lines: Vec<Value> = shown
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event"]["actor"]["username"], "user-2");
    let table = rampart()
        .args(["audit", "show"])
        .arg(&dir)
        .args(["--action", "authn.attempt"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(table.stdout).unwrap().lines().count(),
        3,
        "header and two events"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_refuses_an_empty_trail_and_checks_a_published_head_file() {
    let dir = temp("head-file");
    let anchors = temp("head-file-anchors");
    std::fs::create_dir_all(&dir).unwrap();
    let (code, summary) = verify(&dir, None);
    assert_eq!(code, 1, "an empty trail is not intact: {summary}");
    assert_eq!(summary["intact"], false);
    let allowed = rampart()
        .args(["audit", "verify", "--allow-empty"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(allowed.status.code(), Some(0));

    std::fs::create_dir_all(&anchors).unwrap();
    let head_file = anchors.join("head");
    let input: Vec<String> = (0..5).map(event_line).collect();
    let args = [
        OsStr::new("audit"),
        OsStr::new("record"),
        OsStr::new("--dir"),
        dir.as_os_str(),
        OsStr::new("--head-file"),
        head_file.as_os_str(),
    ];
    let output = common::run(args, input.join("\n").as_bytes());
    assert_eq!(output.status.code(), Some(0));
    let unanchored = rampart()
        .args(["audit", "verify"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(unanchored.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&unanchored.stderr).contains("cannot be detected"),
        "verify without a head says what it cannot see"
    );
    let check = |dir: &Path| {
        rampart()
            .args(["audit", "verify", "--head-file"])
            .arg(&head_file)
            .arg(dir)
            .output()
            .unwrap()
    };
    assert_eq!(check(&dir).status.code(), Some(0));
    // Cut the last event and the seal at a line boundary.
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    let cut = kept[..kept.len() - 2].join("\n") + "\n";
    std::fs::write(&file, cut).unwrap();
    assert_eq!(verify(&dir, None).0, 0, "the chain alone cannot see it");
    let found = check(&dir);
    assert_eq!(found.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&found.stdout).contains("truncated at the end"));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&anchors);
}

#[test]
fn show_escapes_control_and_bidi_characters_in_what_it_prints() {
    let dir = temp("show-escape");
    let line = r#"{"action":"authn.attempt","outcome":"failure","actor":{"username":"ad\u202enimda"},"reason":"x\n2026-01-01 admin login ok\u001b[2J"}"#;
    let args = [
        OsStr::new("audit"),
        OsStr::new("record"),
        OsStr::new("--dir"),
        dir.as_os_str(),
    ];
    assert_eq!(common::run(args, line.as_bytes()).status.code(), Some(0));
    let table = rampart()
        .args(["audit", "show"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        !text.contains('\u{202e}') && !text.contains('\u{1b}'),
        "{text:?}"
    );
    assert!(text.contains("ad\\u{202e}nimda"), "{text}");
    let event_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("authn.attempt"))
        .collect();
    assert_eq!(
        event_rows.len(),
        1,
        "a newline in a reason cannot forge a row: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
