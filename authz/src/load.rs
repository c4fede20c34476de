//! Reading RBAC manifests: multi-document YAML, JSON, `List` objects and directories.
//!
//! # Policy for objects the API server would reject
//!
//! The loader **refuses** them. Each object is converted with the API's defaulting and then
//! checked with the API server's own validation rules (`pkg/apis/rbac/validation`); an
//! object that fails is reported with its file, document, item and field, and the whole
//! load fails. Such an object cannot exist in a cluster, so guessing what it would mean
//! would only produce answers no cluster gives. Duplicates (same kind, namespace and name)
//! are refused for the same reason.
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

use crate::error::{Error, LoadErrors, Location, Result};
use crate::policy::{ClusterRole, ClusterRoleBinding, Policy, Role, RoleBinding};
use crate::validate::{self, Invalid};

/// The API version of the RBAC objects the loader reads.
pub const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";
/// Default limit on the size of one file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
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
}

/// Reads RBAC objects from manifests. See the module documentation for what it refuses.
#[derive(Clone, Debug)]
pub struct Loader {
    default_namespace: Option<String>,
    max_file_bytes: u64,
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            default_namespace: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
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

    /// The largest file accepted, in bytes.
    pub fn max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
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
        collector.finish()
    }

    /// Loads one manifest text; `file` names it in messages.
    ///
    /// # Errors
    /// As [`Loader::load_paths`].
    pub fn load_str(&self, file: &str, text: &str) -> Result<Loaded> {
        let mut collector = Collector::new(self);
        collector.text(file, text, file.ends_with(".json"));
        collector.finish()
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
            serde_saphyr::from_multiple::<Value>(text).map_err(|e| e.to_string())
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

    fn invalid(&mut self, location: &Location, kind: &str, name: &str, field: &str, reason: &str) {
        self.errors.push(Error::Invalid {
            location: location.clone(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            field: field.to_owned(),
            reason: reason.to_owned(),
        });
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
            return self.invalid(
                location,
                &kind,
                "",
                "apiVersion",
                &format!(
                    "`{api_version}` is not served since Kubernetes 1.22; use `{RBAC_API_VERSION}`"
                ),
            );
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
        if !problems.is_empty() {
            for (field, reason) in problems {
                self.invalid(location, kind, name, &field, &reason);
            }
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
