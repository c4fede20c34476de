//! Errors of rampart-audit.

/// Why a trail could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another writer holds the trail directory.
    #[error("{0}: another writer holds this audit directory")]
    Locked(String),
    /// The trail is damaged before its last line: a writer refuses to append to it.
    #[error(
        "{file}, line {line}: {reason}; refusing to append to a damaged trail (run `rampart audit verify`)"
    )]
    Damaged {
        /// The file.
        file: String,
        /// The 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A configuration value is out of bounds.
    #[error("invalid audit configuration: {0}")]
    Config(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
