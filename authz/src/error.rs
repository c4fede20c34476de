//! Errors of rampart-authz. Decisions never error (they fold failures into the decision);
//! only loading a policy does.

use std::fmt;

/// Where in the input an object came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file name (`-` for standard input).
    pub file: String,
    /// The 1-based document within a multi-document YAML file (1 for JSON).
    pub document: usize,
    /// The 0-based item within a `List` document.
    pub item: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, document {}", self.file, self.document)?;
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        Ok(())
    }
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file or directory could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The path.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than the loader accepts.
    #[error("{file}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The path.
        file: String,
        /// The limit.
        limit: u64,
    },
    /// The text is not YAML or JSON.
    #[error("{file}: not valid {format}: {what}")]
    Syntax {
        /// The path.
        file: String,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message.
        what: String,
    },
    /// An RBAC object does not have the shape of its kind, or the API server would reject it.
    #[error("{location}: {kind} `{name}`: field `{field}`: {reason}")]
    Invalid {
        /// Where.
        location: Location,
        /// The object's kind.
        kind: String,
        /// The object's name, when it has one.
        name: String,
        /// The field path, e.g. `subjects[0].kind`.
        field: String,
        /// Why.
        reason: String,
    },
    /// Two objects with the same kind, namespace and name: a cluster cannot hold both.
    #[error("{location}: duplicate {kind} `{key}`, first defined at {first}")]
    Duplicate {
        /// Where the second one is.
        location: Location,
        /// The kind.
        kind: String,
        /// `namespace/name` or `name`.
        key: String,
        /// Where the first one is.
        first: Location,
    },
    /// The load's `policy.loaded` event could not be recorded, so the load is refused.
    #[error("the policy load could not be audited")]
    Audit(#[source] rampart_core::AuditError),
}

/// Every error found while loading, in input order.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<Error>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for error in &self.0 {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// The result type of loading.
pub type Result<T, E = LoadErrors> = std::result::Result<T, E>;
