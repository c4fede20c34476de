//! `rampart authz`: RBAC questions answered offline from manifests, in the shapes
//! Kubernetes tools use (SubjectAccessReview JSON, `kubectl auth can-i` output and exit
//! codes, `kubectl who-can` tables).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rampart_authz::{
    Loader, Policy, PolicyRule, RbacAuthorizer, Severity, impersonated_user, refused_review,
    review_access,
};
use rampart_core::{Attributes, Authorizer, NonResourceAttributes, ResourceAttributes, UserInfo};
use serde_json::Value;

use crate::cli::CliError;
use crate::input::{Line, MAX_LINE_BYTES, next_line};

/// Writes a line to stdout, returning the error instead of panicking (a reader that closed
/// the pipe, as `| head` does, ends the command quietly).
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(io::stdout().lock(), $($arg)*)
    };
}

/// Where the policy comes from.
#[derive(Debug, Args)]
pub struct PolicySource {
    /// RBAC manifests: YAML or JSON files, `List` objects, or directories (repeatable).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    paths: Vec<PathBuf>,
    /// Namespace for Roles and RoleBindings that name none.
    #[arg(long, value_name = "NS")]
    default_namespace: Option<String>,
    /// Refuse objects the API server would refuse (by default they are evaluated as the
    /// authorizer evaluates them, with a warning on stderr).
    #[arg(long)]
    strict: bool,
}

impl PolicySource {
    /// Loads and aggregates; load errors and aggregation warnings go to stderr.
    fn load(&self) -> Result<Policy, CliError> {
        let mut loader = Loader::new().strict(self.strict);
        if let Some(namespace) = &self.default_namespace {
            loader = loader.default_namespace(namespace.clone());
        }
        match loader.load_paths(&self.paths) {
            Ok(mut loaded) => {
                for warning in &loaded.warnings {
                    eprintln!("warning: the API server would refuse this object: {warning}");
                }
                for warning in loaded.policy.aggregate() {
                    eprintln!("warning: {warning}");
                }
                Ok(loaded.policy)
            }
            Err(errors) => Err(CliError::failed(format!(
                "the policy does not load:\n{errors}"
            ))),
        }
    }
}

/// The `rampart authz` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthzCommand {
    /// Answer SubjectAccessReviews read as JSON lines on stdin; write each back with its status.
    Review {
        /// The RBAC manifests.
        #[command(flatten)]
        policy: PolicySource,
    },
    /// `kubectl auth can-i` against the manifests: prints yes or no; exit 0 for yes, 1 for no.
    CanI(CanI),
    /// Every subject allowed a verb on a resource, and the binding that allows it.
    WhoCan(WhoCan),
    /// Grants that amount to cluster-admin or a path to it (AC-6).
    Risks {
        /// The RBAC manifests.
        #[command(flatten)]
        policy: PolicySource,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        /// Also list the grants of Kubernetes' default policy (system:* bindings).
        #[arg(long)]
        include_bootstrap: bool,
    },
}

/// Arguments of `can-i`.
#[derive(Debug, Args)]
pub struct CanI {
    /// The verb (get, list, create, ..., or a special verb such as impersonate).
    verb: Option<String>,
    /// `resource[.group][/subresource]`, or a non-resource URL starting with `/`.
    resource: Option<String>,
    /// The object name.
    name: Option<String>,
    /// The namespace (default `default`; ignored for cluster-scoped resources).
    #[arg(short, long)]
    namespace: Option<String>,
    /// Ask about all namespaces (an empty namespace).
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// The user to ask for, as `kubectl --as`.
    #[arg(long = "as", value_name = "USER", required = true)]
    user: String,
    /// Groups of the user, as `kubectl --as-group` (repeatable).
    #[arg(long = "as-group", value_name = "GROUP")]
    groups: Vec<String>,
    /// List every rule the user has in the namespace instead.
    #[arg(long)]
    list: bool,
    /// Print nothing; only the exit code answers.
    #[arg(short, long)]
    quiet: bool,
    /// With --list: print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    policy: PolicySource,
}

/// Arguments of `who-can`.
#[derive(Debug, Args)]
pub struct WhoCan {
    /// The verb.
    verb: String,
    /// `resource[.group][/subresource]`, or a non-resource URL starting with `/`.
    resource: String,
    /// The object name.
    name: Option<String>,
    /// The namespace (empty: cluster-wide grants only).
    #[arg(short, long, default_value = "")]
    namespace: String,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    policy: PolicySource,
}

/// Built-in resources that are cluster-scoped (Kubernetes 1.37); everything else is taken
/// as namespaced, as `kubectl` does for resources it cannot look up.
const CLUSTER_SCOPED: &[&str] = &[
    "apiservices",
    "certificatesigningrequests",
    "clusterrolebindings",
    "clusterroles",
    "clustertrustbundles",
    "componentstatuses",
    "csidrivers",
    "csinodes",
    "customresourcedefinitions",
    "deviceclasses",
    "flowschemas",
    "ingressclasses",
    "ipaddresses",
    "mutatingadmissionpolicies",
    "mutatingadmissionpolicybindings",
    "mutatingwebhookconfigurations",
    "namespaces",
    "nodes",
    "persistentvolumes",
    "priorityclasses",
    "prioritylevelconfigurations",
    "resourceslices",
    "runtimeclasses",
    "selfsubjectaccessreviews",
    "selfsubjectreviews",
    "selfsubjectrulesreviews",
    "servicecidrs",
    "storageclasses",
    "storageversionmigrations",
    "storageversions",
    "subjectaccessreviews",
    "tokenreviews",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "validatingwebhookconfigurations",
    "volumeattachments",
    "volumeattributesclasses",
];

/// Runs one `rampart authz` subcommand.
pub fn run(command: AuthzCommand) -> ExitCode {
    crate::cli::finish(dispatch(command))
}

fn dispatch(command: AuthzCommand) -> Result<ExitCode, CliError> {
    Ok(match command {
        AuthzCommand::Review { policy } => review(&policy.load()?)?,
        AuthzCommand::CanI(args) => can_i(&args)?,
        AuthzCommand::WhoCan(args) => who_can(&args)?,
        AuthzCommand::Risks {
            policy,
            json,
            include_bootstrap,
        } => risks(&policy.load()?, json, include_bootstrap)?,
    })
}

/// `resource[.group][/subresource]` or `/url` into a request.
fn request(verb: &str, target: &str, name: &str, namespace: &str) -> Attributes {
    if target.starts_with('/') {
        return Attributes::NonResource(NonResourceAttributes {
            path: target.to_owned(),
            verb: verb.to_owned(),
        });
    }
    let (resource_group, subresource) = target.split_once('/').unwrap_or((target, ""));
    let (resource, group) = resource_group
        .split_once('.')
        .unwrap_or((resource_group, ""));
    Attributes::Resource(ResourceAttributes {
        namespace: namespace.to_owned(),
        verb: verb.to_owned(),
        group: group.to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.to_owned(),
        name: name.to_owned(),
        ..ResourceAttributes::default()
    })
}

/// Answers SubjectAccessReviews from stdin, one per line, in order; a line that cannot be
/// read as one (too long, not UTF-8) is answered denied with the reason.
fn review(policy: &Policy) -> Result<ExitCode, CliError> {
    let authorizer = RbacAuthorizer::new(policy);
    let mut input = io::stdin().lock();
    let mut out = io::stdout().lock();
    let mut number = 0usize;
    while let Some(line) = next_line(&mut input, MAX_LINE_BYTES)? {
        number += 1;
        let answer = match line {
            Line::Text(text) if text.trim().is_empty() => continue,
            Line::Text(text) => answer_review(&authorizer, text.as_bytes(), number),
            Line::TooLong => refused_review(&format!(
                "line {number}: longer than {MAX_LINE_BYTES} bytes"
            )),
            Line::NotUtf8 => refused_review(&format!("line {number}: not UTF-8")),
        };
        writeln!(out, "{answer}").and_then(|()| out.flush())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn answer_review(authorizer: &RbacAuthorizer, line: &[u8], number: usize) -> Value {
    review_access(line, authorizer)
        .unwrap_or_else(|error| refused_review(&format!("line {number}: {error}")))
}

fn can_i(args: &CanI) -> Result<ExitCode, CliError> {
    let policy = args.policy.load()?;
    let user = impersonated_user(&args.user, &args.groups);
    let namespace = if args.all_namespaces {
        String::new()
    } else {
        args.namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned())
    };
    if args.list {
        return print_rules(&policy, &user, &namespace, args.json);
    }
    let (Some(verb), Some(target)) = (&args.verb, &args.resource) else {
        return Err(CliError::failed("you must specify two arguments").hint(
            "give a verb and a resource (`get pods`) or a verb and a path (`get /healthz`)",
        ));
    };
    let resource = target.split(['.', '/']).next().unwrap_or_default();
    let namespace = if CLUSTER_SCOPED.contains(&resource) {
        ""
    } else {
        namespace.as_str()
    };
    let request = request(
        verb,
        target,
        args.name.as_deref().unwrap_or_default(),
        namespace,
    );
    let decision = RbacAuthorizer::new(&policy).authorize(&user, &request);
    if !args.quiet {
        if decision.is_allowed() {
            outln!("yes")?;
        } else if decision.reason().is_empty() {
            outln!("no")?;
        } else {
            outln!("no - {}", decision.reason())?;
        }
    }
    Ok(if decision.is_allowed() {
        ExitCode::SUCCESS
    } else {
        crate::cli::Exit::Refused.into()
    })
}

fn bracketed(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// `kubectl auth can-i --list`: one row per rule.
fn print_rules(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    json: bool,
) -> Result<ExitCode, CliError> {
    let found = policy.rules_for(user, namespace);
    for error in &found.errors {
        eprintln!("warning: {error}");
    }
    let mut rules: Vec<PolicyRule> = found.rules;
    rules.sort();
    rules.dedup();
    if json {
        for rule in &rules {
            outln!("{}", serde_json::to_string(rule).unwrap_or_default())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "Resources".to_owned(),
        "Non-Resource URLs".to_owned(),
        "Resource Names".to_owned(),
        "Verbs".to_owned(),
    ]];
    for rule in &rules {
        let resources: Vec<String> = rule
            .api_groups
            .iter()
            .flat_map(|group| {
                rule.resources.iter().map(move |resource| {
                    if group.is_empty() {
                        resource.clone()
                    } else {
                        format!("{resource}.{group}")
                    }
                })
            })
            .collect();
        rows.push([
            resources.join(" "),
            bracketed(&rule.non_resource_urls),
            bracketed(&rule.resource_names),
            bracketed(&rule.verbs),
        ]);
    }
    print_table(&rows)?;
    Ok(ExitCode::SUCCESS)
}

fn print_table<const N: usize>(rows: &[[String; N]]) -> io::Result<()> {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (position, (cell, width)) in row.iter().zip(widths).enumerate() {
            if position + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   "));
            }
        }
        outln!("{}", line.trim_end())?;
    }
    Ok(())
}

fn who_can(args: &WhoCan) -> Result<ExitCode, CliError> {
    let policy = args.policy.load()?;
    let request = request(
        &args.verb,
        &args.resource,
        args.name.as_deref().unwrap_or_default(),
        &args.namespace,
    );
    let found = policy.who_can(&request);
    for error in &found.errors {
        eprintln!("warning: {error}");
    }
    if args.json {
        for grantee in &found.grantees {
            outln!("{}", serde_json::to_string(grantee).unwrap_or_default())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "BINDING".to_owned(),
        "NAMESPACE".to_owned(),
        "ROLE".to_owned(),
        "SUBJECT".to_owned(),
        "TYPE".to_owned(),
        "SA-NAMESPACE".to_owned(),
    ]];
    for grantee in &found.grantees {
        rows.push([
            format!("{}/{}", grantee.binding_kind, grantee.binding_name),
            grantee.binding_namespace.clone(),
            format!("{}/{}", grantee.role.kind, grantee.role.name),
            grantee.subject.name.clone(),
            grantee.subject.kind.clone(),
            grantee.subject.namespace.clone(),
        ]);
    }
    print_table(&rows)?;
    Ok(ExitCode::SUCCESS)
}

fn risks(policy: &Policy, json: bool, include_bootstrap: bool) -> Result<ExitCode, CliError> {
    let risks: Vec<_> = policy
        .risks()
        .into_iter()
        .filter(|risk| include_bootstrap || !risk.bootstrap)
        .collect();
    if json {
        for risk in &risks {
            outln!("{}", serde_json::to_string(risk).unwrap_or_default())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "SEVERITY".to_owned(),
        "CHECK".to_owned(),
        "BINDING".to_owned(),
        "SCOPE".to_owned(),
        "ROLE".to_owned(),
        "SUBJECTS".to_owned(),
        "CONTROL".to_owned(),
    ]];
    for risk in &risks {
        let subjects: Vec<String> = risk
            .subjects
            .iter()
            .map(|s| {
                if s.namespace.is_empty() {
                    format!("{}:{}", s.kind, s.name)
                } else {
                    format!("{}:{}/{}", s.kind, s.namespace, s.name)
                }
            })
            .collect();
        rows.push([
            risk.severity.to_string(),
            risk.check.to_owned(),
            format!("{}/{}", risk.binding_kind, risk.binding_name),
            if risk.namespace.is_empty() {
                "cluster".to_owned()
            } else {
                risk.namespace.clone()
            },
            format!("{}/{}", risk.role.kind, risk.role.name),
            subjects.join(","),
            risk.control.to_owned(),
        ]);
    }
    print_table(&rows)?;
    let critical = risks
        .iter()
        .filter(|r| r.severity == Severity::Critical)
        .count();
    eprintln!("{} findings, {critical} critical", risks.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_arguments_parse_like_kubectl() {
        let Attributes::Resource(r) = request("get", "deployments.apps/scale", "web", "ns") else {
            panic!()
        };
        assert_eq!(
            (
                r.resource.as_str(),
                r.group.as_str(),
                r.subresource.as_str()
            ),
            ("deployments", "apps", "scale")
        );
        let Attributes::Resource(r) = request("get", "pods", "", "ns") else {
            panic!()
        };
        assert_eq!((r.resource.as_str(), r.group.as_str()), ("pods", ""));
        assert!(!request("get", "/logs", "", "ns").is_resource_request());
    }
}
