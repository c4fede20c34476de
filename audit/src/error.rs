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
    /// A configuration value is out of bounds; the text says which and why.
    #[error("invalid audit configuration: {0}")]
    Config(String),
    /// A document (an audit event, an audit policy, an event policy) could not be parsed.
    #[error("{what}: {source}")]
    Parse {
        /// What was being read.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// A parse failure of `what`.
    pub(crate) fn parse(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Parse {
            what,
            source: Box::new(source),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
