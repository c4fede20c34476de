//! Files that hold secrets or evidence: created without following symlinks, private to
//! their owner, and made durable with their directory entry (SC-28, AU-9).
//!
//! Every block that creates a file goes through these functions, so that one rule decides
//! how rampart touches the file system: a symlink planted where rampart is about to write
//! is never followed, a new file is never briefly readable by others, and a file that was
//! acknowledged survives a crash together with its name.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Mode of every file rampart creates: read and write for the owner only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Never through a symlink in the last component; never blocking on a FIFO or device
/// planted where a file was expected (the handle is then refused as not a regular file);
/// never a controlling terminal; closed on exec. `O_NONBLOCK` stays set on the regular
/// file returned: Linux ignores it for regular files on local and network file systems
/// (clearing it would need `fcntl`, i.e. unsafe code or another crate).
const NO_FOLLOW_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;

/// Creates a new file at `path` for writing, mode 0600. Fails if anything exists at
/// `path` — a file, a directory or a symlink (dangling or not): `O_CREAT | O_EXCL` never
/// follows a symlink in the last component.
///
/// # Errors
/// The path exists or cannot be created.
pub fn create_private(path: &Path) -> io::Result<File> {
    create_new_with_mode(path, PRIVATE_FILE_MODE)
}

/// [`create_private`] with another mode (a certificate may be 0644; a key never).
///
/// # Errors
/// The path exists or cannot be created.
pub fn create_new_with_mode(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(NO_FOLLOW_FLAGS)
        .open(path)
}

/// Opens an existing regular file for appending without following a symlink in the last
/// component (`O_NOFOLLOW`), or creates it with mode 0600 when `create` is set and
/// nothing is there.
///
/// # Errors
/// The path is a symlink (`ELOOP`), not a regular file, or cannot be opened.
pub fn open_append_no_follow(path: &Path, create: bool) -> io::Result<File> {
    open_regular_no_follow(path, OpenOptions::new().append(true).create(create))
}

/// Opens an existing regular file for reading and writing without following a symlink in
/// the last component.
///
/// # Errors
/// The path is a symlink, not a regular file, or cannot be opened.
pub fn open_rw_no_follow(path: &Path) -> io::Result<File> {
    open_regular_no_follow(path, OpenOptions::new().read(true).write(true))
}

/// Opens an existing regular file for reading without following a symlink in the last
/// component.
///
/// # Errors
/// The path is a symlink, not a regular file, or cannot be opened.
pub fn open_read_no_follow(path: &Path) -> io::Result<File> {
    open_regular_no_follow(path, OpenOptions::new().read(true))
}

/// The one way an existing file is opened: [`NO_FOLLOW_FLAGS`], mode 0600 if created, and
/// only a regular file is returned.
fn open_regular_no_follow(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options
        .mode(PRIVATE_FILE_MODE)
        .custom_flags(NO_FOLLOW_FLAGS)
        .open(path)?;
    refuse_unless_regular(&file, path)?;
    Ok(file)
}

/// A FIFO or device opened by name could block or never end: only regular files count.
fn refuse_unless_regular(file: &File, path: &Path) -> io::Result<()> {
    if file.metadata()?.is_file() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a regular file", path.display()),
        ))
    }
}

/// Writes `bytes` to `path` atomically and durably, mode 0600: a new temporary file with
/// a random name in the same directory (created as [`create_private`] creates), synced,
/// renamed over `path`, and the directory synced. A symlink at `path` is replaced, never
/// followed.
///
/// # Errors
/// As [`write_atomically_with_mode`].
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with_mode(path, bytes, PRIVATE_FILE_MODE)
}

/// [`write_private_atomically`] with another mode for the new file.
///
/// # Errors
/// Any step failed. Before the rename the temporary file is removed and `path` is left as
/// it was; a failure to sync the directory after the rename means `path` holds the new
/// bytes but the rename may not survive a crash.
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let dir = parent_dir(path);
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let temp = dir.join(temp_name);
    let mut file = create_new_with_mode(&temp, mode)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(error) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(error);
    }
    sync_dir(&dir)
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Syncs a directory, so that entries created, renamed or removed in it survive a crash.
///
/// # Errors
/// The directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (mode 0700) and any missing parents, syncing each parent whose entry was
/// new, so that a directory created for evidence survives a crash. An existing directory
/// is left as it is.
///
/// # Errors
/// A component cannot be created or synced.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => sync_dir(&parent_dir(dir)),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rampart-core-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create_private(&link).is_err());
        assert!(open_append_no_follow(&link, true).is_err());
        assert!(open_append_no_follow(&link, false).is_err());
        assert!(open_rw_no_follow(&link).is_err());
        assert!(open_read_no_follow(&link).is_err());
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(create_private(&dangling).is_err());
        assert!(open_append_no_follow(&dangling, true).is_err());
        assert!(!dir.join("nowhere").exists());
        write_private_atomically(&link, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A FIFO planted where a file is expected fails at once instead of blocking until
    /// someone opens its other end.
    #[test]
    fn a_planted_fifo_is_refused_without_blocking() {
        let dir = scratch("fifo");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (done, finished) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let results = [
                open_read_no_follow(&path).is_err(),
                open_append_no_follow(&path, true).is_err(),
                open_rw_no_follow(&path).is_err(),
            ];
            let _ = done.send(results);
        });
        let results = finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("opening a FIFO must not block");
        assert_eq!(results, [true, true, true]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn created_files_and_directories_are_private() {
        let dir = scratch("modes");
        let path = dir.join("f");
        create_private(&path).unwrap().write_all(b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let appended = dir.join("g");
        drop(open_append_no_follow(&appended, true).unwrap());
        let mode = std::fs::metadata(&appended).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let nested = dir.join("a/b/c");
        create_private_dir_all(&nested).unwrap();
        let mode = std::fs::metadata(&nested).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
