//! From an HTTP request to authorization attributes, exactly as the kube-apiserver's
//! `RequestInfoFactory.NewRequestInfo` does
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`), including the
//! parts that decide `list` versus `watch`, a name taken from a `metadata.name` field
//! selector, and `deletecollection`.

use std::fmt;

use rampart_core::{Attributes, NonResourceAttributes, ResourceAttributes};

use crate::names::{is_label_value, is_path_segment_name, is_qualified_name};

/// Longest request target accepted, in bytes (kube-apiserver's default header limit is
/// 1 MiB; a request line this long is hostile).
pub const MAX_TARGET_BYTES: usize = 64 * 1024;

/// Why a request could not be turned into attributes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestInfoError {
    /// The target is longer than [`MAX_TARGET_BYTES`].
    #[error("request target longer than {MAX_TARGET_BYTES} bytes")]
    TooLong,
    /// The path has a malformed percent-escape (an HTTP server answers 400).
    #[error("malformed percent-escape in the request path")]
    BadEscape,
    /// The path names a special verb (`watch`, `proxy`) but no resource; the apiserver
    /// answers with an error.
    #[error("unable to determine kind and namespace from the request path")]
    NoResource,
    /// The target is neither empty nor an absolute path (`/...`). Go's server also
    /// accepts the absolute form (`https://host/path`) and `*`; this parser takes only the
    /// origin form a proxy in front of the apiserver passes on, and refuses the rest
    /// (closed, never a different answer).
    #[error("request target is not an absolute path")]
    NotAbsolutePath,
}

/// What the apiserver learns from a request's method, path and query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo {
    /// Whether this is a request for a resource (as opposed to `/healthz`, `/apis`, ...).
    pub is_resource_request: bool,
    /// The decoded URL path.
    pub path: String,
    /// The authorization verb.
    pub verb: String,
    /// `api` or `apis`.
    pub api_prefix: String,
    /// The API group (empty for the core group).
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The namespace (empty for cluster-scoped and all-namespace requests).
    pub namespace: String,
    /// The resource.
    pub resource: String,
    /// The subresource.
    pub subresource: String,
    /// The object name.
    pub name: String,
    /// The path segments from the resource on.
    pub parts: Vec<String>,
    /// The raw `fieldSelector` of a list, watch or deletecollection.
    pub field_selector: String,
    /// The raw `labelSelector` of a list, watch or deletecollection.
    pub label_selector: String,
}

impl RequestInfo {
    /// The authorization attributes of this request, as the apiserver builds them.
    pub fn to_attributes(&self) -> Attributes {
        if !self.is_resource_request {
            return Attributes::NonResource(NonResourceAttributes {
                path: self.path.clone(),
                verb: self.verb.clone(),
            });
        }
        let raw = |selector: &str| {
            (!selector.is_empty()).then(|| serde_json::json!({ "rawSelector": selector }))
        };
        Attributes::Resource(ResourceAttributes {
            namespace: self.namespace.clone(),
            verb: self.verb.clone(),
            group: self.api_group.clone(),
            version: self.api_version.clone(),
            resource: self.resource.clone(),
            subresource: self.subresource.clone(),
            name: self.name.clone(),
            field_selector: raw(&self.field_selector),
            label_selector: raw(&self.label_selector),
        })
    }
}

/// Parses requests for an apiserver serving resources under the given prefixes.
#[derive(Clone, Debug)]
pub struct RequestInfoFactory {
    api_prefixes: Vec<String>,
    groupless_api_prefixes: Vec<String>,
}

impl Default for RequestInfoFactory {
    /// The kube-apiserver's prefixes: `api` (groupless) and `apis`.
    fn default() -> Self {
        RequestInfoFactory {
            api_prefixes: vec!["api".into(), "apis".into()],
            groupless_api_prefixes: vec!["api".into()],
        }
    }
}

const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];
const VERBS_WITH_SELECTORS: [&str; 3] = ["list", "watch", "deletecollection"];

impl RequestInfoFactory {
    /// Parses `method` and the request `target` (`/path?query`, as on the request line).
    ///
    /// # Errors
    /// Malformed percent-escapes, an over-long target, and the paths the apiserver itself
    /// refuses (a special verb with nothing after it).
    pub fn parse(&self, method: &str, target: &str) -> Result<RequestInfo, RequestInfoError> {
        if target.len() > MAX_TARGET_BYTES {
            return Err(RequestInfoError::TooLong);
        }
        // Empty is Go's URL.Path of `http://host` (Kubernetes' own table has it); anything
        // else must be an absolute path.
        if !target.is_empty() && !target.starts_with('/') {
            return Err(RequestInfoError::NotAbsolutePath);
        }
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let raw_path = raw_path.split_once('#').map_or(raw_path, |(path, _)| path);
        let path = percent_decode(raw_path, false).ok_or(RequestInfoError::BadEscape)?;
        let query = parse_query(raw_query);

        let mut info = RequestInfo {
            path: path.clone(),
            verb: method.to_lowercase(),
            ..RequestInfo::default()
        };
        let trimmed = path.trim_matches('/');
        let mut parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < 3 {
            return Ok(info);
        }
        let prefix = parts.remove(0);
        if !self.api_prefixes.iter().any(|p| p == prefix) {
            return Ok(info);
        }
        info.api_prefix = prefix.to_owned();
        if !self.groupless_api_prefixes.iter().any(|p| p == prefix) {
            if parts.len() < 3 {
                return Ok(info);
            }
            info.api_group = parts.remove(0).to_owned();
        }
        info.is_resource_request = true;
        info.api_version = parts.remove(0).to_owned();

        let mut verb_via_path = false;
        match parts.first() {
            Some(first) if SPECIAL_VERBS.contains(first) => {
                if parts.len() < 2 {
                    return Err(RequestInfoError::NoResource);
                }
                info.verb = parts.remove(0).to_owned();
                verb_via_path = true;
            }
            _ => {
                info.verb = match method {
                    "POST" => "create",
                    "GET" | "HEAD" => "get",
                    "PUT" => "update",
                    "PATCH" => "patch",
                    "DELETE" => "delete",
                    _ => "",
                }
                .to_owned();
            }
        }

        if parts.first() == Some(&"namespaces")
            && let Some(namespace) = parts.get(1)
        {
            info.namespace = (*namespace).to_owned();
            let namespace_subresource = parts
                .get(2)
                .is_some_and(|p| NAMESPACE_SUBRESOURCES.contains(p));
            if parts.len() > 2 && !namespace_subresource {
                parts.drain(..2);
            }
        }
        info.parts = parts.iter().map(|p| (*p).to_owned()).collect();
        if parts.len() >= 3 && info.verb != "proxy" {
            info.subresource = info.parts.get(2).cloned().unwrap_or_default();
        }
        if parts.len() >= 2 {
            info.name = info.parts.get(1).cloned().unwrap_or_default();
        }
        if let Some(resource) = info.parts.first() {
            info.resource = resource.clone();
        }

        if info.name.is_empty() && info.verb == "get" {
            let watch = query
                .first("watch")
                .is_some_and(|value| !(value == "0" || value.eq_ignore_ascii_case("false")));
            info.verb = if watch { "watch" } else { "list" }.to_owned();
            if list_options_decode(&query)
                && let Some(name) = query
                    .first("fieldSelector")
                    .and_then(|selector| field_selector_exact_match(selector, "metadata.name"))
                && is_path_segment_name(&name)
            {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        if !verb_via_path && VERBS_WITH_SELECTORS.contains(&info.verb.as_str()) {
            if let Some(selector) = query.first("fieldSelector") {
                info.field_selector = selector.to_owned();
            }
            if let Some(selector) = query.first("labelSelector") {
                info.label_selector = selector.to_owned();
            }
        }
        Ok(info)
    }
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_attributes().fmt(f)
    }
}

/// Decoded query parameters in order, as Go's `url.ParseQuery` keeps them.
struct Query(Vec<(String, String)>);

impl Query {
    /// The first value of `key` (what Go's conversion of `[]string` to a scalar takes).
    fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }
}

/// Go's `url.ParseQuery`, keeping only the pairs it would keep: pairs are split on `&`,
/// a pair with `;` anywhere in its raw text (key or value) is dropped, and so is a pair
/// with a malformed escape.
fn parse_query(raw: &str) -> Query {
    let mut pairs = Vec::new();
    for pair in raw.split('&') {
        if pair.is_empty() {
            continue;
        }
        if pair.contains(';') {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Some(key), Some(value)) = (percent_decode(key, true), percent_decode(value, true)) {
            pairs.push((key, value));
        }
    }
    Query(pairs)
}

/// Percent-decoding as Go's `url.PathUnescape` (`plus_is_space` false) or
/// `url.QueryUnescape` (true). `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while let Some(&byte) = bytes.get(position) {
        match byte {
            b'%' => {
                let high = bytes
                    .get(position + 1)
                    .and_then(|b| (*b as char).to_digit(16))?;
                let low = bytes
                    .get(position + 2)
                    .and_then(|b| (*b as char).to_digit(16))?;
                decoded.push(u8::try_from(high * 16 + low).ok()?);
                position += 3;
            }
            b'+' if plus_is_space => {
                decoded.push(b' ');
                position += 1;
            }
            other => {
                decoded.push(other);
                position += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// Whether the query decodes into `ListOptions` without error, as the apiserver's
/// parameter codec decides: valid label and field selectors and integer `limit` /
/// `timeoutSeconds`. Only then is a name taken from the field selector.
fn list_options_decode(query: &Query) -> bool {
    let integer = |key: &str| {
        query
            .first(key)
            .is_none_or(|value| value.is_empty() || parse_go_int64(value))
    };
    query
        .first("labelSelector")
        .is_none_or(label_selector_is_valid)
        && query
            .first("fieldSelector")
            .is_none_or(|selector| parse_field_selector(selector).is_some())
        && integer("limit")
        && integer("timeoutSeconds")
}

/// `strconv.ParseInt(s, 10, 64)` succeeds.
fn parse_go_int64(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && text.parse::<i64>().is_ok()
}

/// One field selector term: (field, is-equality, unescaped value).
type FieldTerm = (String, bool, String);

/// `fields.ParseSelector`: comma-separated `field=value`, `field==value` or `field!=value`
/// terms (backslash escapes `\,`, `\=`, `\\` in values), sorted as the apiserver sorts them.
fn parse_field_selector(selector: &str) -> Option<Vec<FieldTerm>> {
    let mut terms: Vec<&str> = split_field_terms(selector);
    terms.sort_unstable();
    let mut parsed = Vec::new();
    for term in terms.into_iter().filter(|t| !t.is_empty()) {
        let (field, equality, value) = split_field_term(term)?;
        parsed.push((field.to_owned(), equality, unescape_field_value(value)?));
    }
    Some(parsed)
}

fn split_field_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (position, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(selector.get(start..position).unwrap_or_default());
            start = position + 1;
        }
    }
    terms.push(selector.get(start..).unwrap_or_default());
    terms
}

fn split_field_term(term: &str) -> Option<(&str, bool, &str)> {
    for (position, _) in term.char_indices() {
        let rest = term.get(position..)?;
        for (operator, equality) in [("!=", false), ("==", true), ("=", true)] {
            if let Some(value) = rest.strip_prefix(operator) {
                return Some((term.get(..position)?, equality, value));
            }
        }
    }
    None
}

fn unescape_field_value(value: &str) -> Option<String> {
    let mut unescaped = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return None;
            }
            unescaped.push(c);
            escaped = false;
        } else {
            match c {
                '\\' => escaped = true,
                ',' | '=' => return None,
                c => unescaped.push(c),
            }
        }
    }
    (!escaped).then_some(unescaped)
}

/// `Selector.RequiresExactMatch(field)` of a parsed field selector.
fn field_selector_exact_match(selector: &str, field: &str) -> Option<String> {
    parse_field_selector(selector)?
        .into_iter()
        .find(|(name, equality, _)| name == field && *equality)
        .map(|(_, _, value)| value)
}

/// Label selector tokens (`labels.Lexer`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier(String),
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(text: &str) -> Option<Token> {
    Some(match text {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_special(byte: u8) -> bool {
    matches!(byte, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// `labels.Lexer`, byte for byte: a NUL byte where a token starts ends the input; inside a
/// token it ends the token and is consumed.
fn lex(selector: &str) -> Vec<Token> {
    let bytes = selector.as_bytes();
    let mut tokens = Vec::new();
    let mut position = 0;
    loop {
        while bytes.get(position).copied().is_some_and(is_blank) {
            position += 1;
        }
        let first = bytes.get(position).copied().unwrap_or(0);
        if first == 0 {
            tokens.push(Token::End);
            return tokens;
        }
        if is_special(first) {
            let mut best: Option<(Token, usize)> = None;
            let mut end = position;
            while let Some(&byte) = bytes.get(end) {
                if !is_special(byte) {
                    break;
                }
                end += 1;
                match selector.get(position..end).and_then(keyword) {
                    Some(token) => best = Some((token, end)),
                    None if best.is_some() => break,
                    None => {}
                }
            }
            match best {
                Some((token, end)) => {
                    tokens.push(token);
                    position = end;
                }
                None => {
                    tokens.push(Token::Error);
                    tokens.push(Token::End);
                    return tokens;
                }
            }
        } else {
            let mut end = position;
            while bytes
                .get(end)
                .copied()
                .is_some_and(|b| b != 0 && !is_special(b) && !is_blank(b))
            {
                end += 1;
            }
            let text = String::from_utf8_lossy(bytes.get(position..end).unwrap_or_default());
            tokens.push(keyword(&text).unwrap_or_else(|| Token::Identifier(text.into_owned())));
            position = if bytes.get(end) == Some(&0) {
                end + 1
            } else {
                end
            };
        }
    }
}

/// `labels.Parse` succeeds: the apiserver's label selector grammar and validation.
fn label_selector_is_valid(selector: &str) -> bool {
    LabelParser {
        tokens: lex(selector),
        position: 0,
    }
    .parse()
    .is_some()
}

struct LabelParser {
    tokens: Vec<Token>,
    position: usize,
}

/// The contexts of `labels.Parser`: in `Values`, `in` and `notin` are identifiers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

impl LabelParser {
    fn token(&self, at: usize, context: Context) -> Token {
        let token = self.tokens.get(at).cloned().unwrap_or(Token::End);
        match (context, token) {
            (Context::Values, Token::In) => Token::Identifier("in".into()),
            (Context::Values, Token::NotIn) => Token::Identifier("notin".into()),
            (_, token) => token,
        }
    }

    fn lookahead(&self, context: Context) -> Token {
        self.token(self.position, context)
    }

    fn consume(&mut self, context: Context) -> Token {
        let token = self.token(self.position, context);
        self.position += 1;
        token
    }

    fn parse(&mut self) -> Option<()> {
        loop {
            match self.lookahead(Context::Values) {
                Token::Identifier(_) | Token::DoesNotExist => {
                    self.requirement()?;
                    match self.consume(Context::Values) {
                        Token::End => return Some(()),
                        Token::Comma => {
                            if !matches!(
                                self.lookahead(Context::Values),
                                Token::Identifier(_) | Token::DoesNotExist
                            ) {
                                return None;
                            }
                        }
                        _ => return None,
                    }
                }
                Token::End => return Some(()),
                _ => return None,
            }
        }
    }

    fn requirement(&mut self) -> Option<()> {
        let mut does_not_exist = false;
        let mut token = self.consume(Context::Values);
        if token == Token::DoesNotExist {
            does_not_exist = true;
            token = self.consume(Context::Values);
        }
        let Token::Identifier(key) = token else {
            return None;
        };
        if !is_qualified_name(&key) {
            return None;
        }
        let unary = matches!(self.lookahead(Context::Values), Token::End | Token::Comma);
        if does_not_exist || unary {
            return Some(());
        }
        let operator = self.consume(Context::KeyAndOperator);
        let values = match operator {
            Token::In | Token::NotIn => self.set_values()?,
            Token::Equals
            | Token::DoubleEquals
            | Token::NotEquals
            | Token::GreaterThan
            | Token::LessThan => self.exact_value()?,
            _ => return None,
        };
        if matches!(operator, Token::GreaterThan | Token::LessThan)
            && !values.iter().all(|value| parse_go_int64(value))
        {
            return None;
        }
        values
            .iter()
            .all(|value| is_label_value(value))
            .then_some(())
    }

    fn set_values(&mut self) -> Option<Vec<String>> {
        if self.consume(Context::Values) != Token::OpenPar {
            return None;
        }
        match self.lookahead(Context::Values) {
            Token::Identifier(_) | Token::Comma => {
                let values = self.identifier_list()?;
                (self.consume(Context::Values) == Token::ClosedPar).then_some(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Some(vec![String::new()])
            }
            _ => None,
        }
    }

    fn identifier_list(&mut self) -> Option<Vec<String>> {
        let mut values: Vec<String> = Vec::new();
        loop {
            match self.consume(Context::Values) {
                Token::Identifier(value) => {
                    values.push(value);
                    match self.lookahead(Context::Values) {
                        Token::Comma => {}
                        Token::ClosedPar => return Some(values),
                        _ => return None,
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.lookahead(Context::Values) {
                        Token::ClosedPar => {
                            values.push(String::new());
                            return Some(values);
                        }
                        Token::Comma => values.push(String::new()),
                        _ => {}
                    }
                }
                _ => return None,
            }
        }
    }

    fn exact_value(&mut self) -> Option<Vec<String>> {
        if matches!(self.lookahead(Context::Values), Token::End | Token::Comma) {
            return Some(vec![String::new()]);
        }
        match self.consume(Context::Values) {
            Token::Identifier(value) => Some(vec![value]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selector_grammar() {
        for valid in [
            "",
            "x",
            "!x",
            "x=a",
            "x==a",
            "x!=a",
            "x=",
            "x in (a,b)",
            "x in (foo,,baz),y,z notin ()",
            "x notin (in)",
            "app.kubernetes.io/name=web",
            "a>5",
            "  x  =  a  ",
            "x=a \0 garbage after a NUL where a token starts",
        ] {
            assert!(label_selector_is_valid(valid), "{valid:?}");
        }
        for invalid in [
            "x=a=b",
            "x in a",
            "x in (a",
            ",x",
            "x,",
            "!x=a",
            "x=a b",
            "-x=a",
            "x=-a",
            "x>a",
            "a<-3",
            "x in (a b)",
            "x ~ a",
            "=",
            "x=(a)",
            "ab\0cd",
            "x=a\0 garbage",
        ] {
            assert!(!label_selector_is_valid(invalid), "{invalid:?}");
        }
    }

    #[test]
    fn field_selector_grammar() {
        assert_eq!(
            field_selector_exact_match("metadata.name=web", "metadata.name").as_deref(),
            Some("web")
        );
        assert_eq!(
            field_selector_exact_match("metadata.name==a\\,b", "metadata.name").as_deref(),
            Some("a,b")
        );
        assert_eq!(
            field_selector_exact_match("metadata.name!=web", "metadata.name"),
            None
        );
        // Terms are sorted before the first match is taken.
        assert_eq!(
            field_selector_exact_match("metadata.name=z,metadata.name=a", "metadata.name")
                .as_deref(),
            Some("a")
        );
        assert!(parse_field_selector("metadata.name=name1,foo").is_none());
        assert!(parse_field_selector("a=b\\").is_none());
        assert!(parse_field_selector("a=b\\x").is_none());
        assert!(parse_field_selector("a=b=c").is_none());
        assert_eq!(parse_field_selector("").map(|t| t.len()), Some(0));
    }

    #[test]
    fn go_integer_parsing() {
        for good in ["0", "+5", "-9223372036854775808", "9223372036854775807"] {
            assert!(parse_go_int64(good), "{good}");
        }
        for bad in ["", "+", "1.0", "9223372036854775808", " 1", "0x10"] {
            assert!(!parse_go_int64(bad), "{bad}");
        }
    }

    #[test]
    fn query_parsing_follows_go() {
        let query = parse_query("watch=1&watch=false&a%3Bb=1&bad=%zz&sp=a+b&k;x=1&empty");
        assert_eq!(query.first("watch"), Some("1"));
        assert_eq!(query.first("a;b"), Some("1"));
        assert_eq!(query.first("bad"), None);
        assert_eq!(query.first("sp"), Some("a b"));
        assert_eq!(query.first("k;x"), None);
        assert_eq!(query.first("empty"), Some(""));
    }
}
