//! `rampart audit`: append to, verify and read a rampart audit trail.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rampart_audit::{
    Chain, ChainValue, Durability, FileSink, FileSinkConfig, OverloadPolicy, Submitted,
    VerifyOptions, read_head_file, verify_with,
};
use rampart_core::{
    Action, AuditEvent, Clock, EventId, Outcome, RequestContext, SystemClock, Target, Timestamp,
    UserInfo, escape_for_display,
};
use serde::Deserialize;

use crate::cli::{CliError, Exit};
use crate::input::{Line, next_line};

/// Longest input line accepted by `record`.
const MAX_INPUT_LINE: usize = 256 * 1024;
/// Events submitted ahead of their acknowledgement (lets group commit batch stdin).
const IN_FLIGHT: usize = 256;

/// The `rampart audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Append AuditEvent JSON lines from stdin; print `{"seq":N,"chain":"HEX"}` per event once durable.
    Record(RecordArgs),
    /// Verify a trail; exit 0 when intact, 1 at the first bad record, 3 when intact up to a torn last line.
    Verify(VerifyArgs),
    /// Print a trail as a table (or JSON lines), filtered.
    Show(ShowArgs),
}

/// Arguments of `record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The trail directory.
    #[arg(long)]
    dir: PathBuf,
    /// every_event, group_commit or buffered.
    #[arg(long, default_value = "every_event")]
    durability: String,
    /// HMAC-SHA-256 key file (raw bytes or hex, at least 32 bytes).
    #[arg(long)]
    hmac_key_file: Option<PathBuf>,
    /// Rotate files after this many bytes.
    #[arg(long)]
    max_file_bytes: Option<u64>,
    /// Append the trail's head (`SEQ:CHAIN TIME`) to this file after every commit; keep it
    /// outside the trail's directory, where the trail's writer cannot rewrite it.
    #[arg(long)]
    head_file: Option<PathBuf>,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trail directories or files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// HMAC-SHA-256 key file, when the trail was written with one.
    #[arg(long)]
    hmac_key_file: Option<PathBuf>,
    /// An acknowledgement kept elsewhere, `SEQ:CHAIN`: the trail must contain it.
    #[arg(long, conflicts_with = "head_file")]
    head: Option<String>,
    /// A head file the writer published (`record --head-file`): the trail must contain
    /// its newest head, so records cut from the end are found.
    #[arg(long)]
    head_file: Option<PathBuf>,
    /// Accept a trail with no files (by default an empty trail is a finding).
    #[arg(long)]
    allow_empty: bool,
}

/// Arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Trail directories or files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Only events of this user.
    #[arg(long)]
    user: Option<String>,
    /// Only this action (e.g. `authn.attempt`).
    #[arg(long)]
    action: Option<String>,
    /// Only this outcome (`success` or `failure`).
    #[arg(long)]
    outcome: Option<String>,
    /// Only events at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<Timestamp>,
    /// Only events before this RFC 3339 time.
    #[arg(long)]
    until: Option<Timestamp>,
    /// Print JSON lines (the records as stored) instead of a table.
    #[arg(long)]
    json: bool,
    /// HMAC-SHA-256 key file, when the trail was written with one.
    #[arg(long)]
    hmac_key_file: Option<PathBuf>,
}

/// Runs one `rampart audit` subcommand.
pub fn run(command: AuditCommand) -> ExitCode {
    crate::cli::finish(match command {
        AuditCommand::Record(args) => record(&args),
        AuditCommand::Verify(args) => verify_command(&args),
        AuditCommand::Show(args) => show(&args),
    })
}

pub(crate) fn chain_from(key: Option<&PathBuf>) -> Result<Chain, CliError> {
    match key {
        None => Ok(Chain::Sha256),
        Some(path) => {
            Chain::hmac_from_file(path).map_err(|error| CliError::failed(error.to_string()))
        }
    }
}

/// An event as scripts write it: id, time and code may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputEvent {
    #[serde(default)]
    id: Option<EventId>,
    #[serde(default)]
    time: Option<Timestamp>,
    action: Action,
    #[serde(default)]
    code: Option<String>,
    outcome: Outcome,
    actor: UserInfo,
    #[serde(default)]
    source: Option<RequestContext>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    details: std::collections::BTreeMap<String, serde_json::Value>,
}

fn parse_event(line: &[u8], clock: &dyn Clock) -> Result<AuditEvent, CliError> {
    let input: InputEvent = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if input.actor.username.is_empty() {
        return Err("`actor.username` is required".into());
    }
    if let Some(code) = &input.code {
        input.action.check_code(code).map_err(|e| e.to_string())?;
    }
    let mut event = AuditEvent::new(
        input.action,
        input.outcome,
        input.time.unwrap_or_else(|| clock.now().into()),
    )
    .with_actor(input.actor)
    .with_source(input.source.unwrap_or_default());
    if let Some(id) = input.id {
        event.id = id;
    }
    event.target = input.target;
    event.reason = input.reason;
    event.details = input.details;
    Ok(event)
}

fn record(args: &RecordArgs) -> Result<ExitCode, CliError> {
    let chain = chain_from(args.hmac_key_file.as_ref())?;
    let durability: Durability = args
        .durability
        .parse()
        .map_err(|error: rampart_audit::Error| CliError::failed(error.to_string()))?;
    let mut config = FileSinkConfig::new(&args.dir)
        .durability(durability)
        .chain(chain)
        .overload(OverloadPolicy::Block);
    if let Some(path) = &args.head_file {
        config = config.head_file(path);
    }
    if let Some(bytes) = args.max_file_bytes {
        config = config.max_file_bytes(bytes);
    }
    let sink = FileSink::open(config).map_err(|error| CliError::failed(error.to_string()))?;
    let clock = SystemClock;
    let mut input = io::BufReader::new(io::stdin().lock());
    let mut in_flight: VecDeque<Submitted> = VecDeque::new();
    let mut number = 0u64;
    let mut failed = false;
    loop {
        let line = next_line(&mut input, MAX_INPUT_LINE)
            .map_err(|error| CliError::failed(format!("reading stdin: {error}")))?;
        let done = line.is_none();
        if let Some(line) = line {
            number += 1;
            let event = match line {
                Line::Text(text) if text.trim().is_empty() => None,
                Line::Text(text) => Some(parse_event(text.as_bytes(), &clock)),
                Line::TooLong => Some(Err(CliError::failed(format!(
                    "longer than {MAX_INPUT_LINE} bytes; skipped"
                )))),
                Line::NotUtf8 => Some(Err(CliError::failed("not UTF-8; skipped"))),
            };
            match event {
                None => {}
                Some(Ok(event)) => in_flight.push_back(sink.enqueue(&event)),
                Some(Err(error)) => {
                    eprintln!("error: {}", error.context(format_args!("line {number}")));
                    failed = true;
                }
            }
        }
        // Acknowledge in order: everything when input is drained or idle, else keep a window.
        let drain_all = done || input.buffer().is_empty();
        while in_flight.len() > if drain_all { 0 } else { IN_FLIGHT } {
            let Some(pending) = in_flight.pop_front() else {
                break;
            };
            match pending.wait() {
                Ok(ack) => {
                    let mut out = io::stdout().lock();
                    writeln!(out, "{{\"seq\":{},\"chain\":\"{}\"}}", ack.seq, ack.chain)
                        .and_then(|()| out.flush())
                        .map_err(|error| CliError::failed(format!("writing stdout: {error}")))?;
                }
                Err(error) => {
                    eprintln!("error: event not recorded: {error}");
                    failed = true;
                }
            }
        }
        if done {
            break;
        }
    }
    sink.close()
        .map_err(|error| CliError::failed(format!("sealing the trail: {error}")))?;
    Ok(if failed {
        Exit::Refused.into()
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_head(text: &str) -> Option<(u64, ChainValue)> {
    let (seq, chain) = text.split_once(':')?;
    Some((seq.parse().ok()?, ChainValue::from_hex(chain)?))
}

fn verify_command(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let chain = chain_from(args.hmac_key_file.as_ref())?;
    let head = match args.head.as_deref().map(parse_head) {
        Some(None) => {
            return Err(CliError::failed("--head takes SEQ:CHAIN")
                .hint("give the sequence number, a colon and 64 lowercase hex digits"));
        }
        Some(Some(head)) => Some(head),
        None => None,
    };
    let head = match (&args.head_file, head) {
        (Some(path), _) => {
            Some(read_head_file(path).map_err(|error| CliError::failed(error.to_string()))?)
        }
        (None, head) => head,
    };
    let options = VerifyOptions::default()
        .expected_head(head)
        .allow_empty(args.allow_empty);
    let report = verify_with(&args.paths, &chain, &options)
        .map_err(|error| CliError::failed(error.to_string()))?;
    let summary = serde_json::json!({
        "intact": report.is_intact(),
        "files": report.files,
        "records": report.records,
        "first_seq": report.first_seq,
        "head": report.head.map(|(seq, chain)| format!("{seq}:{chain}")),
        "torn_tail": report.torn_tail.as_ref().map(|(file, offset)| format!("{file}@{offset}")),
        "head_checked": report.head_checked,
        "finding": report.finding.as_ref().map(|f| serde_json::json!({
            "file": f.file, "line": f.line, "seq": f.seq, "reason": f.reason,
        })),
    });
    println!("{summary}");
    if !report.head_checked {
        eprintln!(
            "note: no --head or --head-file: records cut from the end of the trail cannot be detected"
        );
    }
    Ok(match (&report.finding, &report.torn_tail) {
        (Some(finding), _) => {
            eprintln!("TAMPERED: {finding}");
            Exit::Refused.into()
        }
        (None, Some((file, offset))) => {
            eprintln!(
                "intact up to a torn last line in {file} at byte {offset} (an unfinished write)"
            );
            Exit::Unaudited.into()
        }
        (None, None) => ExitCode::SUCCESS,
    })
}

fn show(args: &ShowArgs) -> Result<ExitCode, CliError> {
    let chain = chain_from(args.hmac_key_file.as_ref())?;
    show_records(args, &chain).map_err(|error| CliError::failed(error.to_string()))
}

/// Prints the verified records of the trail that pass the filters. Lines are read with the
/// trail's own bound, so a damaged file cannot make this hold a huge line.
fn show_records(args: &ShowArgs, chain: &Chain) -> io::Result<ExitCode> {
    let mut files = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut out = io::stdout().lock();
    if !args.json {
        writeln!(
            out,
            "{:<6}  {:<27}  {:<24}  {:<7}  {:<24}  {:<24}  REASON",
            "SEQ", "TIME", "ACTION", "OUTCOME", "ACTOR", "SOURCE"
        )?;
    }
    let mut unverified = 0u64;
    for file in files {
        let mut reader = io::BufReader::new(std::fs::File::open(&file)?);
        while let Some(line) = next_line(&mut reader, rampart_audit::MAX_LINE_BYTES)? {
            let Line::Text(text) = line else {
                unverified += 1;
                continue;
            };
            let line = format!("{text}\n").into_bytes();
            let Ok(record) = rampart_audit::decode(chain, &line) else {
                unverified += 1;
                continue;
            };
            let event = &record.event;
            let keep = args
                .user
                .as_ref()
                .is_none_or(|u| *u == event.actor.username)
                && args
                    .action
                    .as_ref()
                    .is_none_or(|a| *a == event.action.name())
                && args
                    .outcome
                    .as_ref()
                    .is_none_or(|o| *o == event.outcome.as_str())
                && args.since.is_none_or(|t| event.time >= t)
                && args.until.is_none_or(|t| event.time < t);
            if !keep {
                continue;
            }
            if args.json {
                out.write_all(&line)?;
            } else {
                let source = event
                    .source
                    .source_ip()
                    .map(|ip| ip.to_string())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<6}  {:<27}  {:<24}  {:<7}  {:<24}  {:<24}  {}",
                    record.seq,
                    event.time.to_string(),
                    event.action.name(),
                    event.outcome.as_str(),
                    escape_for_display(&event.actor.username),
                    source,
                    escape_for_display(event.reason.as_deref().unwrap_or_default())
                )?;
            }
        }
    }
    if unverified > 0 {
        eprintln!(
            "warning: {unverified} lines did not verify and were not shown; run `rampart audit verify`"
        );
    }
    Ok(ExitCode::SUCCESS)
}
