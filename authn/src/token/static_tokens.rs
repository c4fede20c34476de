//! The static token file of kube-apiserver's `--token-auth-file` (IA-2): a bearer-token
//! authenticator that answers `NotApplicable` for a token not in the file, so it sits in a
//! `UnionAuthenticator` in kube-apiserver's order.

use std::collections::HashMap;

use rampart_core::{
    Authenticated, Authenticator, AuthnError, AuthnFuture, BearerToken, RequestContext, UserInfo,
};

/// Why a token file was refused. Never quotes a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    /// A line is not `token,user,uid[,"group1,group2"]`.
    #[error("line {line}: {why}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Larger than [`MAX_TOKEN_FILE_BYTES`].
    #[error("the token file is larger than {0} bytes")]
    TooLarge(usize),
}

/// Largest token file read (4 MiB).
pub const MAX_TOKEN_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Tokens from a kube-apiserver `--token-auth-file` (CSV: `token,user,uid[,"g1,g2"]`).
///
/// Stricter than kube-apiserver, which warns and carries on: an empty token, a duplicate
/// token, a missing user, or a malformed line refuses the whole file. Tokens are held as
/// SHA-256 digests, so no comparison ever touches a token's own bytes.
#[derive(Default)]
pub struct StaticTokens {
    users: HashMap<[u8; 32], UserInfo>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTokens")
            .field("tokens", &self.users.len())
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Splits one CSV line: fields separated by commas, a field in double quotes may contain
/// commas and doubled quotes, leading spaces are trimmed (Go's `TrimLeadingSpace`).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("an unterminated quoted field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("text after a quoted field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field".into()),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

impl StaticTokens {
    /// Parses a token file.
    ///
    /// # Errors
    /// The first bad line, by number.
    pub fn parse(text: &str) -> Result<Self, TokenFileError> {
        if text.len() > MAX_TOKEN_FILE_BYTES {
            return Err(TokenFileError::TooLarge(MAX_TOKEN_FILE_BYTES));
        }
        let mut users = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let bad = |why: &str| TokenFileError::Line {
                line,
                why: why.to_owned(),
            };
            if raw.trim().is_empty() {
                continue;
            }
            let fields = csv_fields(raw).map_err(|why| bad(&why))?;
            let [token, user, uid, rest @ ..] = fields.as_slice() else {
                return Err(bad("fewer than three fields (token,user,uid)"));
            };
            if token.is_empty() {
                return Err(bad("an empty token"));
            }
            if user.is_empty() {
                return Err(bad("an empty user name"));
            }
            let groups: Vec<String> = match rest {
                [] => Vec::new(),
                [groups, ..] if groups.is_empty() => Vec::new(),
                [groups, ..] => groups.split(',').map(str::to_owned).collect(),
            };
            let info = UserInfo {
                username: user.clone(),
                uid: uid.clone(),
                groups,
                ..UserInfo::default()
            };
            if users.insert(digest(token), info).is_some() {
                return Err(bad("a token that appears on an earlier line"));
            }
        }
        Ok(StaticTokens { users })
    }

    /// How many tokens the file defines.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether it defines none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user of `token`, found by its SHA-256 digest: a lookup's timing can only tell
    /// about digests, which say nothing usable about any token.
    fn lookup(&self, token: &str) -> Option<&UserInfo> {
        self.users.get(&digest(token))
    }
}

impl Authenticator<BearerToken> for StaticTokens {
    fn authenticate<'a>(
        &'a self,
        credential: &'a BearerToken,
        _context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        let result = self
            .lookup(credential.token().expose_secret())
            .map(|user| Authenticated::new(user.clone()))
            .ok_or(AuthnError::NotApplicable);
        Box::pin(async move { result })
    }
}
