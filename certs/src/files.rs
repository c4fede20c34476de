//! Writing key and certificate files, and removing them (SC-12, SC-28).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::CertError;

/// Writes `bytes` to `path` with `mode`: a temporary file with a random name created new
/// with that mode (never briefly world-readable, never through a symlink), synced, renamed
/// over `path`, and the directory synced — core's one rule for files.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    rampart_core::fs::write_atomically_with_mode(path, bytes, mode)
        .map_err(|error| CertError::io(path, error))
}

/// A private key file: mode 0600.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CertError> {
    write_atomically(path, bytes, 0o600)
}

/// A certificate file: mode 0644.
pub(crate) fn write_public(path: &Path, bytes: &[u8]) -> Result<(), CertError> {
    write_atomically(path, bytes, 0o644)
}

/// Removes issued key and certificate files, overwriting each with zeros and syncing
/// before unlinking, so the key does not linger in the file's old blocks on filesystems
/// that overwrite in place. (Copy-on-write filesystems and SSD wear levelling may keep old
/// blocks regardless: short certificate lifetimes are the real protection.) Files that do
/// not exist are skipped; every file is attempted even if one fails.
///
/// # Errors
/// The first file that could not be overwritten or removed.
pub fn remove_securely(paths: &[&Path]) -> Result<(), CertError> {
    let mut first_error = None;
    for path in paths {
        if let Err(error) = remove_one(path) {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// [`remove_securely`], then a `cert.removed` event naming the files in `audit`.
///
/// # Errors
/// A file could not be removed, or the removal could not be recorded
/// ([`CertError::Unaudited`]; the files are gone).
pub fn remove_credentials(paths: &[&Path], audit: &crate::CertAudit) -> Result<(), CertError> {
    let mut removed = Vec::new();
    let mut first_error = None;
    for path in paths {
        let existed = fs::symlink_metadata(path).is_ok();
        match remove_one(path) {
            Ok(()) if existed => removed.push(*path),
            Ok(()) => {}
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    // What was destroyed is recorded even when another file could not be.
    audit.removed(&removed)?;
    first_error.map_or(Ok(()), Err)
}

fn remove_one(path: &Path) -> Result<(), CertError> {
    let io = |error: std::io::Error| CertError::io(path, error);
    // Opened without following a symlink, and judged by the opened handle: nothing can be
    // swapped in between a check and the overwrite. A symlink is removed, never followed —
    // overwriting its target could destroy an unrelated file.
    match rampart_core::fs::open_rw_no_follow(path) {
        Ok(mut file) => overwrite_with_zeros(&mut file).map_err(io)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {}
            Ok(_) => return Err(io(error)),
            Err(gone) if gone.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(other) => return Err(io(other)),
        },
    }
    fs::remove_file(path).map_err(io)?;
    rampart_core::fs::sync_dir(&rampart_core::fs::parent_dir(path)).map_err(io)
}

/// Overwrites an open regular file with zeros over its length and syncs it.
fn overwrite_with_zeros(file: &mut File) -> std::io::Result<()> {
    let zeros = vec![0u8; 64 * 1024];
    let mut left = file.metadata()?.len();
    while left > 0 {
        let chunk = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(zeros.get(..chunk).unwrap_or(&zeros))?;
        left -= chunk as u64;
    }
    file.sync_all()
}

/// Writes a certificate chain as PEM (mode 0644), atomically and durably.
///
/// # Errors
/// The file cannot be written.
pub fn write_certificates(
    path: &Path,
    chain: &[rustls::pki_types::CertificateDer<'_>],
) -> Result<(), CertError> {
    write_public(path, crate::pem::certificates_to_pem(chain).as_bytes())
}
