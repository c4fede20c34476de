//! Reading input files with a bound: a file larger than the bound is refused, never read
//! whole and never silently cut.

use std::io::Read;
use std::path::Path;

use crate::cli::CliError;

/// The bytes of `path`, at most `max`.
///
/// # Errors
/// The file cannot be read, or is larger than `max` bytes; the message names the file.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(max + 1).read_to_end(&mut bytes))
        .map_err(|error| CliError::failed(error.to_string()).context(path.display()))?;
    if bytes.len() as u64 > max {
        return Err(CliError::failed(format!("larger than {max} bytes")).context(path.display()));
    }
    Ok(bytes)
}

/// The longest line the line-oriented commands read (1 MiB): far above what the libraries
/// accept, so their own size errors are what a user sees for a merely large input.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Reads standard input line by line (each at most [`MAX_LINE_BYTES`]), skips blank lines,
/// and prints one JSON verdict per line: `judge`'s, or `{"accepted": false, "error": …}`
/// for a line too long or not UTF-8.
///
/// # Errors
/// Standard input could not be read.
pub fn judge_lines(mut judge: impl FnMut(&str) -> serde_json::Value) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let mut reader = stdin.lock();
    while let Some(line) = next_line(&mut reader, MAX_LINE_BYTES)
        .map_err(|error| CliError::failed(format!("reading stdin: {error}")))?
    {
        let verdict = match line {
            // Every line gets its verdict, so verdicts stay aligned with inputs.
            Line::Text(text) if text.trim().is_empty() => {
                serde_json::json!({"accepted": false, "error": "empty line: nothing to verify"})
            }
            Line::Text(text) => judge(text.trim()),
            Line::TooLong => serde_json::json!({
                "accepted": false,
                "error": format!("line longer than {MAX_LINE_BYTES} bytes"),
            }),
            Line::NotUtf8 => serde_json::json!({"accepted": false, "error": "line is not UTF-8"}),
        };
        println!("{verdict}");
    }
    Ok(())
}

/// One line of standard input as the line-oriented commands see it.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line, without its line ending.
    Text(String),
    /// Longer than the bound: skipped without being held in memory.
    TooLong,
    /// Not UTF-8.
    NotUtf8,
}

/// The next line of `reader`, holding at most `max` bytes of it; `None` at the end.
///
/// # Errors
/// Reading failed.
pub fn next_line(reader: &mut impl std::io::BufRead, max: usize) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut seen_any = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        seen_any = true;
        let (chunk, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => (buffer.get(..end).unwrap_or_default(), Some(end + 1)),
            None => (buffer, None),
        };
        if !too_long && line.len() + chunk.len() <= max {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line.clear();
        }
        let used = done.unwrap_or(buffer.len());
        reader.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !seen_any {
        return Ok(None);
    }
    if too_long {
        return Ok(Some(Line::TooLong));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(
        String::from_utf8(line).map_or(Line::NotUtf8, Line::Text),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_without_buffering_the_excess() {
        let input = format!("short\r\n{}\nnext\n\u{e9}\n", "x".repeat(100));
        let mut bytes = input.into_bytes();
        bytes.extend_from_slice(b"\xff\nlast");
        let mut reader = std::io::BufReader::with_capacity(8, bytes.as_slice());
        let mut lines = Vec::new();
        while let Some(line) = next_line(&mut reader, 10).unwrap_or(None) {
            lines.push(line);
        }
        assert_eq!(
            lines,
            [
                Line::Text("short".into()),
                Line::TooLong,
                Line::Text("next".into()),
                Line::Text("\u{e9}".into()),
                Line::NotUtf8,
                Line::Text("last".into()),
            ]
        );
    }
}
