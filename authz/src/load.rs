//! Reading RBAC manifests: multi-document YAML, JSON, `List` objects and directories.
//!
//! # Policy for objects the API server would reject
//!
//! Each object is converted with the API's defaulting and then checked with the API
//! server's own validation rules (`pkg/apis/rbac/validation`). By default an object that
//! fails is **still evaluated**, exactly as the Kubernetes authorizer code treats it, and
//! the failure is returned as a warning (file, document, item and field) in
//! [`Loaded::warnings`]: policies from Kubernetes' own authorizer tests and cluster dumps
//! holding one legacy object must stay analysable. [`Loader::strict`] refuses such objects
//! instead, for linting manifests before they are applied. What cannot be evaluated at
//! all — a syntax error, a field of the wrong type, a Role without a namespace, two objects
//! with the same kind, namespace and name — is refused in both modes.
//!
//! # Size
//!
//! Input is bounded by bytes ([`Loader::max_file_bytes`]), not by a count of documents a
//! real cluster export exceeds: the YAML parser's document, node and event budgets grow
//! with the input's length, while its alias and depth bounds (the billion-laughs guards)
//! stay fixed.
//!
//! Objects handed to [`Policy`] directly (for example from a live cluster, where the API
//! server has validated them) are not re-validated: they are evaluated exactly as the
//! Kubernetes authorizer code treats them (an unknown `roleRef.kind` resolves to nothing and
//! shows in the reason, a `ServiceAccount` subject without a namespace in a
//! ClusterRoleBinding matches nobody, and so on).

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::rbac::v1 as rbac;
use serde::de::DeserializeOwned;
use serde_json::Value;

use rampart_core::{Action, AuditEvent, Outcome, SharedAuditSink, SharedClock, Target, UserInfo};

use crate::error::{Error, LoadErrors, Location, Result};
use crate::policy::{ClusterRole, ClusterRoleBinding, Policy, Role, RoleBinding};
use crate::validate::{self, Invalid};

/// The API version of the RBAC objects the loader reads.
pub const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";
/// Default limit on the size of one file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Most source paths a `policy.loaded` event names.
const MAX_AUDITED_SOURCES: usize = 32;
/// How deep directories are walked.
const MAX_DIRECTORY_DEPTH: usize = 32;

/// What a load produced.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Loaded {
    /// The RBAC objects, not yet aggregated (see [`Policy::aggregate`]).
    pub policy: Policy,
    /// Things skipped on purpose (other kinds), one line each.
    pub notes: Vec<String>,
    /// Objects the API server would refuse, evaluated anyway (empty in strict mode, where
    /// they are errors instead).
    pub warnings: Vec<Error>,
}

/// Reads RBAC objects from manifests. See the module documentation for what it refuses.
#[derive(Clone, Debug)]
pub struct Loader {
    default_namespace: Option<String>,
    max_file_bytes: u64,
    strict: bool,
    audit: Option<LoadAudit>,
}

/// Where a loader records its loads, and who asked for them.
#[derive(Clone, Debug)]
struct LoadAudit {
    sink: SharedAuditSink,
    clock: SharedClock,
    actor: UserInfo,
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            default_namespace: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            strict: false,
            audit: None,
        }
    }
}

impl Loader {
    /// A loader that requires every Role and RoleBinding to name its namespace.
    pub fn new() -> Self {
        Loader::default()
    }

    /// The namespace for Roles and RoleBindings that have none (what `kubectl -n` would
    /// apply them to).
    pub fn default_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.default_namespace = Some(namespace.into());
        self
    }

    /// Refuse objects the API server would refuse, rather than evaluate them with a
    /// warning: for linting manifests before they are applied.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The largest file accepted, in bytes.
    pub fn max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
        self
    }

    /// Records every load, successful or not, as a `policy.loaded` event in `sink`, with
    /// `actor` as who loaded it (AU-2: changes to the authorization policy). A load whose
    /// event cannot be recorded fails with [`Error::Audit`]: no policy takes effect
    /// unaudited. Loading reads files and may wait on the sink: call it off async workers.
    pub fn audit_to(mut self, sink: SharedAuditSink, clock: SharedClock, actor: UserInfo) -> Self {
        self.audit = Some(LoadAudit { sink, clock, actor });
        self
    }

    /// Loads files and directories (walked recursively for `.yaml`, `.yml` and `.json`
    /// files, in name order).
    ///
    /// # Errors
    /// Every unreadable file, syntax error, malformed or invalid object and duplicate.
    pub fn load_paths<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Loaded> {
        let mut collector = Collector::new(self);
        for path in paths {
            collector.path(path.as_ref(), 0);
        }
        let sources: Vec<String> = paths
            .iter()
            .map(|path| path.as_ref().display().to_string())
            .collect();
        self.audited(&sources, collector.finish())
    }

    /// Loads one manifest text; `file` names it in messages.
    ///
    /// # Errors
    /// As [`Loader::load_paths`].
    pub fn load_str(&self, file: &str, text: &str) -> Result<Loaded> {
        let mut collector = Collector::new(self);
        collector.text(file, text, file.ends_with(".json"));
        self.audited(&[file.to_owned()], collector.finish())
    }

    /// Records the load's outcome when auditing; a load that cannot be recorded fails.
    fn audited(&self, sources: &[String], result: Result<Loaded>) -> Result<Loaded> {
        let Some(audit) = &self.audit else {
            return result;
        };
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut event = AuditEvent::new(Action::PolicyLoaded, outcome, audit.clock.now())
            .with_actor(audit.actor.clone())
            .with_target(Target::new("policy", "rbac"))
            // The first sources by name (an event stays small whatever the command line).
            .with_detail(
                "sources",
                sources
                    .iter()
                    .take(MAX_AUDITED_SOURCES)
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .with_detail("source_count", sources.len())
            .with_detail("strict", self.strict);
        event = match &result {
            Ok(loaded) => event
                .with_detail("roles", loaded.policy.roles.len())
                .with_detail("cluster_roles", loaded.policy.cluster_roles.len())
                .with_detail("role_bindings", loaded.policy.role_bindings.len())
                .with_detail(
                    "cluster_role_bindings",
                    loaded.policy.cluster_role_bindings.len(),
                )
                .with_detail("warnings", loaded.warnings.len()),
            Err(errors) => event
                .with_reason("invalid_policy")
                .with_detail("errors", errors.0.len()),
        };
        match (audit.sink.record(event), result) {
            (Ok(()), result) => result,
            (Err(error), Ok(_)) => Err(LoadErrors(vec![Error::Audit(error)])),
            (Err(error), Err(mut errors)) => {
                errors.0.push(Error::Audit(error));
                Err(errors)
            }
        }
    }
}

/// The YAML parser's options for an input of `len` bytes: budgets that count documents,
/// nodes and events grow with the input (each needs at least a byte or two of it), so
/// only the byte limit bounds a plain export; aliases, anchors and depth keep the parser's
/// fixed bounds.
fn yaml_options(len: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    let linear = len.saturating_add(1024);
    budget.max_documents = linear;
    budget.max_nodes = budget.max_nodes.max(linear);
    budget.max_events = budget.max_events.max(linear.saturating_mul(2));
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// An object the API server's validation (or the shape of its kind) refuses.
fn invalid_object(location: &Location, kind: &str, name: &str, field: &str, reason: &str) -> Error {
    Error::Invalid {
        location: location.clone(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

struct Collector<'l> {
    loader: &'l Loader,
    loaded: Loaded,
    errors: Vec<Error>,
    seen: BTreeMap<(String, String, String), Location>,
}

impl<'l> Collector<'l> {
    fn new(loader: &'l Loader) -> Self {
        Collector {
            loader,
            loaded: Loaded::default(),
            errors: Vec::new(),
            seen: BTreeMap::new(),
        }
    }

    fn finish(self) -> Result<Loaded> {
        if self.errors.is_empty() {
            Ok(self.loaded)
        } else {
            Err(LoadErrors(self.errors))
        }
    }

    fn path(&mut self, path: &Path, depth: usize) {
        let file = path.display().to_string();
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(source) => return self.errors.push(Error::Io { file, source }),
        };
        if metadata.is_dir() {
            if depth >= MAX_DIRECTORY_DEPTH {
                return self.errors.push(Error::Io {
                    file,
                    source: std::io::Error::other("directories nested too deeply"),
                });
            }
            let mut entries = match std::fs::read_dir(path).and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.path()))
                    .collect::<std::io::Result<Vec<_>>>()
            }) {
                Ok(entries) => entries,
                Err(source) => return self.errors.push(Error::Io { file, source }),
            };
            entries.sort();
            for entry in entries {
                let is_manifest = entry
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
                if entry.is_dir() || is_manifest {
                    self.path(&entry, depth + 1);
                }
            }
            return;
        }
        if metadata.len() > self.loader.max_file_bytes {
            return self.errors.push(Error::TooLarge {
                file,
                limit: self.loader.max_file_bytes,
            });
        }
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let json = path.extension().is_some_and(|e| e == "json");
                self.text(&file, &text, json);
            }
            Err(source) => self.errors.push(Error::Io { file, source }),
        }
    }

    fn text(&mut self, file: &str, text: &str, json: bool) {
        if u64::try_from(text.len()).unwrap_or(u64::MAX) > self.loader.max_file_bytes {
            return self.errors.push(Error::TooLarge {
                file: file.to_owned(),
                limit: self.loader.max_file_bytes,
            });
        }
        let json = json || text.trim_start().starts_with(['{', '[']);
        let documents: std::result::Result<Vec<Value>, String> = if json {
            serde_json::Deserializer::from_str(text)
                .into_iter::<Value>()
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| e.to_string())
        } else {
            serde_saphyr::from_multiple_with_options::<Value>(text, yaml_options(text.len()))
                .map_err(|e| e.to_string())
        };
        match documents {
            Ok(documents) => {
                for (position, document) in documents.into_iter().enumerate() {
                    let location = Location {
                        file: file.to_owned(),
                        document: position + 1,
                        item: None,
                    };
                    self.document(document, location);
                }
            }
            Err(what) => self.errors.push(Error::Syntax {
                file: file.to_owned(),
                format: if json { "JSON" } else { "YAML" },
                what,
            }),
        }
    }

    fn document(&mut self, document: Value, location: Location) {
        let kind = document
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind == "List" || (kind.ends_with("List") && document.get("items").is_some()) {
            let Value::Array(items) = document.get("items").cloned().unwrap_or(Value::Null) else {
                return self.invalid(
                    &location,
                    kind,
                    "",
                    "items",
                    "a List needs an `items` array",
                );
            };
            for (position, item) in items.into_iter().enumerate() {
                let location = Location {
                    item: Some(position),
                    ..location.clone()
                };
                self.object(item, &location);
            }
        } else if !document.is_null() {
            self.object(document, &location);
        }
    }

    /// What the API server's validation refuses: an error in strict mode, otherwise a
    /// warning about an object evaluated anyway.
    fn refused_by_api_server(
        &mut self,
        location: &Location,
        kind: &str,
        name: &str,
        field: &str,
        reason: &str,
    ) {
        let finding = invalid_object(location, kind, name, field, reason);
        if self.loader.strict {
            self.errors.push(finding);
        } else {
            self.loaded.warnings.push(finding);
        }
    }

    fn invalid(&mut self, location: &Location, kind: &str, name: &str, field: &str, reason: &str) {
        self.errors
            .push(invalid_object(location, kind, name, field, reason));
    }

    fn object(&mut self, object: Value, location: &Location) {
        let Some(kind) = object
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return self.invalid(location, "object", "", "kind", "missing or not a string");
        };
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let is_rbac_kind = matches!(
            kind.as_str(),
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        );
        if !is_rbac_kind || !api_version.starts_with("rbac.authorization.k8s.io/") {
            self.loaded
                .notes
                .push(format!("{location}: skipped {api_version} {kind}"));
            return;
        }
        if api_version != RBAC_API_VERSION {
            self.refused_by_api_server(
                location,
                &kind,
                "",
                "apiVersion",
                &format!(
                    "`{api_version}` is not served since Kubernetes 1.22; use `{RBAC_API_VERSION}`"
                ),
            );
            if self.loader.strict {
                return;
            }
        }
        match kind.as_str() {
            "Role" => {
                if let Some(raw) = self.parse::<rbac::Role>(object, location, &kind) {
                    let mut role = Role::from(&raw);
                    self.default_namespace(&mut role.namespace, location, &kind, &role.name);
                    let problems = validate::role(&role);
                    let key = (role.namespace.clone(), role.name.clone());
                    if self.accept(location, &kind, key, &role.name, problems) {
                        self.loaded.policy.add_role(role);
                    }
                }
            }
            "ClusterRole" => {
                if let Some(raw) = self.parse::<rbac::ClusterRole>(object, location, &kind) {
                    let role = ClusterRole::from(&raw);
                    let problems = validate::cluster_role(&role);
                    let key = (String::new(), role.name.clone());
                    if self.accept(location, &kind, key, &role.name, problems) {
                        self.loaded.policy.add_cluster_role(role);
                    }
                }
            }
            "RoleBinding" => {
                if let Some(raw) = self.parse::<rbac::RoleBinding>(object, location, &kind) {
                    let mut binding = RoleBinding::from(&raw);
                    self.default_namespace(&mut binding.namespace, location, &kind, &binding.name);
                    let problems = validate::role_binding(&binding);
                    let key = (binding.namespace.clone(), binding.name.clone());
                    if self.accept(location, &kind, key, &binding.name, problems) {
                        self.loaded.policy.add_role_binding(binding);
                    }
                }
            }
            _ => {
                if let Some(raw) = self.parse::<rbac::ClusterRoleBinding>(object, location, &kind) {
                    let binding = ClusterRoleBinding::from(&raw);
                    let problems = validate::cluster_role_binding(&binding);
                    let key = (String::new(), binding.name.clone());
                    if self.accept(location, &kind, key, &binding.name, problems) {
                        self.loaded.policy.add_cluster_role_binding(binding);
                    }
                }
            }
        }
    }

    fn parse<T: DeserializeOwned>(
        &mut self,
        object: Value,
        location: &Location,
        kind: &str,
    ) -> Option<T> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match serde_path_to_error::deserialize::<_, T>(object) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let field = error.path().to_string();
                let reason = error.inner().to_string();
                self.invalid(location, kind, &name, &field, &reason);
                None
            }
        }
    }

    fn default_namespace(
        &mut self,
        namespace: &mut String,
        location: &Location,
        kind: &str,
        name: &str,
    ) {
        if namespace.is_empty() {
            match &self.loader.default_namespace {
                Some(default) => default.clone_into(namespace),
                None => self.invalid(
                    location,
                    kind,
                    name,
                    "metadata.namespace",
                    "required: give it in the manifest or choose a default namespace",
                ),
            }
        }
    }

    /// Records validation problems and duplicates; `true` when the object may be added.
    fn accept(
        &mut self,
        location: &Location,
        kind: &str,
        key: (String, String),
        name: &str,
        problems: Vec<Invalid>,
    ) -> bool {
        let refused = !problems.is_empty();
        for (field, reason) in problems {
            self.refused_by_api_server(location, kind, name, &field, &reason);
        }
        if refused && self.loader.strict {
            return false;
        }
        let (namespace, object_name) = key;
        let seen_key = (kind.to_owned(), namespace.clone(), object_name.clone());
        if let Some(first) = self.seen.get(&seen_key) {
            self.errors.push(Error::Duplicate {
                location: location.clone(),
                kind: kind.to_owned(),
                key: if namespace.is_empty() {
                    object_name
                } else {
                    format!("{namespace}/{object_name}")
                },
                first: first.clone(),
            });
            return false;
        }
        self.seen.insert(seen_key, location.clone());
        true
    }
}
