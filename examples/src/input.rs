//! Reading input files with a bound: a file larger than the bound is refused, never read
//! whole and never silently cut.

use std::io::Read;
use std::path::Path;

/// The bytes of `path`, at most `max`.
///
/// # Errors
/// The file cannot be read, or is larger than `max` bytes; the message names the file.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(max + 1).read_to_end(&mut bytes))
        .map_err(|error| format!("{}: {error}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{}: larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}
