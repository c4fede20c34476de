//! RBAC decisions on a large multi-tenant policy: rampart's index, the apiserver's plain
//! scan (the reference implementation), cedar-policy and casbin on an equivalent policy.
//! Before measuring, every peer must agree with rampart on every benchmark request.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use casbin::prelude::*;
use casbin::function_map::OperatorFunction;
use casbin::rhai::Dynamic;
use cedar_policy::{Context, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression};
use criterion::{Criterion, criterion_group, criterion_main};
use rampart_authz::{Policy, PolicyRule, RbacAuthorizer, RoleRef, ScanAuthorizer, Subject};
use rampart_benchmarks::shape::{Shape, generate};
use rampart_core::{Attributes, Authorizer, ResourceAttributes, UserInfo};

const REQUESTS: usize = 256;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4)
}

/// Each (binding, subject, role rule) of the policy, for translating to the peers:
/// (principal, is group, namespace or "" for cluster-wide, rule).
fn grants(policy: &Policy) -> Vec<(String, bool, String, PolicyRule)> {
    let mut out = Vec::new();
    let mut add = |subjects: &[Subject], role_ref: &RoleRef, ns: &str| {
        let rules = match role_ref.kind.as_str() {
            "Role" => policy.role(ns, &role_ref.name).map(|r| r.rules.clone()),
            "ClusterRole" => policy.cluster_role(&role_ref.name).map(|r| r.rules.clone()),
            _ => None,
        }
        .unwrap_or_default();
        for subject in subjects {
            let (principal, group) = match subject.kind.as_str() {
                "User" => (subject.name.clone(), false),
                "Group" => (subject.name.clone(), true),
                "ServiceAccount" => {
                    let sa_ns = if subject.namespace.is_empty() { ns } else { &subject.namespace };
                    if sa_ns.is_empty() {
                        continue;
                    }
                    (format!("system:serviceaccount:{sa_ns}:{}", subject.name), false)
                }
                _ => continue,
            };
            for rule in rules.iter().filter(|r| !r.resources.is_empty()) {
                out.push((principal.clone(), group, ns.to_owned(), rule.clone()));
            }
        }
    };
    for b in policy.cluster_role_bindings() {
        add(&b.subjects, &b.role_ref, "");
    }
    for b in policy.role_bindings() {
        add(&b.subjects, &b.role_ref, &b.namespace);
    }
    out
}

fn resource_of(request: &Attributes) -> &ResourceAttributes {
    match request {
        Attributes::Resource(r) => r,
        Attributes::NonResource(_) => panic!("the benchmark uses resource requests"),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn cedar_set(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| quote(i)).collect::<Vec<_>>().join(", "))
}

/// One Cedar policy per (binding, subject, rule): the RBAC semantics as Cedar conditions.
fn cedar_policies(policy: &Policy) -> PolicySet {
    let mut text = String::new();
    for (principal, group, ns, rule) in grants(policy) {
        let principal = if group { format!("principal in Group::{}", quote(&principal)) } else { format!("principal == User::{}", quote(&principal)) };
        let action = if rule.verbs.iter().any(|v| v == "*") {
            "action".to_owned()
        } else {
            format!("action in [{}]", rule.verbs.iter().map(|v| format!("Action::{}", quote(v))).collect::<Vec<_>>().join(", "))
        };
        let mut conditions = vec!["true".to_owned()];
        if !ns.is_empty() {
            conditions.push(format!("context.namespace == {}", quote(&ns)));
        }
        if !rule.api_groups.iter().any(|g| g == "*") {
            conditions.push(format!("{}.contains(resource.group)", cedar_set(&rule.api_groups)));
        }
        if !rule.resources.iter().any(|r| r == "*") {
            let alternatives: Vec<String> = rule
                .resources
                .iter()
                .map(|entry| match entry.strip_prefix("*/") {
                    Some(sub) => format!("resource.sub == {}", quote(sub)),
                    None => format!("resource.res == {}", quote(entry)),
                })
                .collect();
            conditions.push(format!("({})", alternatives.join(" || ")));
        }
        if !rule.resource_names.is_empty() {
            conditions.push(format!("{}.contains(resource.name)", cedar_set(&rule.resource_names)));
        }
        text.push_str(&format!("permit({principal}, {action}, resource) when {{ {} }};\n", conditions.join(" && ")));
    }
    PolicySet::from_str(&text).expect("generated cedar policies parse")
}

fn uid(kind: &str, id: &str) -> EntityUid {
    EntityUid::from_str(&format!("{kind}::{}", quote(id))).expect("uid")
}

/// A prepared Cedar request with its entity store (built outside the measured loop).
fn cedar_request(user: &UserInfo, request: &Attributes) -> (Request, Entities) {
    let r = resource_of(request);
    let combined = if r.subresource.is_empty() { r.resource.clone() } else { format!("{}/{}", r.resource, r.subresource) };
    let parents: HashSet<EntityUid> = user.groups.iter().map(|g| uid("Group", g)).collect();
    let principal = Entity::new(uid("User", &user.username), HashMap::new(), parents).expect("principal");
    let attrs: HashMap<String, RestrictedExpression> = [
        ("group", r.group.clone()),
        ("res", combined),
        ("sub", r.subresource.clone()),
        ("name", r.name.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), RestrictedExpression::new_string(v)))
    .collect();
    let resource = Entity::new(uid("Res", "target"), attrs, HashSet::new()).expect("resource");
    let groups = user.groups.iter().map(|g| Entity::new_no_attrs(uid("Group", g), HashSet::new()));
    let entities = Entities::from_entities(groups.chain([principal, resource]), None).expect("entities");
    let context = Context::from_pairs([("namespace".to_owned(), RestrictedExpression::new_string(r.namespace.clone()))]).expect("context");
    let request = Request::new(uid("User", &user.username), uid("Action", &r.verb), uid("Res", "target"), context, None).expect("request");
    (request, entities)
}

const CASBIN_MODEL: &str = r#"
[request_definition]
r = user, ns, grp, res, subres, name, act

[policy_definition]
p = user, ns, grps, ress, names, acts

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.user, p.user) && (p.ns == "*" || p.ns == r.ns) && inList(r.grp, p.grps) && resMatch(r.res, r.subres, p.ress) && nameMatch(r.name, p.names) && inList(r.act, p.acts)
"#;

fn text(value: &Dynamic) -> String {
    value.clone().into_string().unwrap_or_default()
}

fn in_list(item: Dynamic, list: Dynamic) -> Dynamic {
    let (item, list) = (text(&item), text(&list));
    list.split('\u{1f}').any(|entry| entry == "*" || entry == item).into()
}

fn res_match(combined: Dynamic, sub: Dynamic, list: Dynamic) -> Dynamic {
    let (combined, sub, list) = (text(&combined), text(&sub), text(&list));
    list.split('\u{1f}')
        .any(|entry| entry == "*" || entry == combined || (!sub.is_empty() && entry.strip_prefix("*/") == Some(sub.as_str())))
        .into()
}

fn name_match(name: Dynamic, list: Dynamic) -> Dynamic {
    let (name, list) = (text(&name), text(&list));
    (list == "\u{1e}any" || list.split('\u{1f}').any(|entry| entry == name)).into()
}

/// The same grants as casbin policy lines, lists joined with a unit separator.
async fn casbin_enforcer(policy: &Policy, users: &[UserInfo]) -> Enforcer {
    let model = DefaultModel::from_str(CASBIN_MODEL).await.expect("casbin model");
    let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await.expect("enforcer");
    enforcer.add_function("inList", OperatorFunction::Arg2(in_list));
    enforcer.add_function("resMatch", OperatorFunction::Arg3(res_match));
    enforcer.add_function("nameMatch", OperatorFunction::Arg2(name_match));
    let join = |items: &[String]| items.join("\u{1f}");
    let lines: Vec<Vec<String>> = grants(policy)
        .into_iter()
        .map(|(principal, _, ns, rule)| {
            vec![
                principal,
                if ns.is_empty() { "*".to_owned() } else { ns },
                join(&rule.api_groups),
                join(&rule.resources),
                if rule.resource_names.is_empty() { "\u{1e}any".to_owned() } else { join(&rule.resource_names) },
                join(&rule.verbs),
            ]
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    enforcer.add_policies(lines).await.expect("policies");
    let mut memberships: HashSet<Vec<String>> = HashSet::new();
    for user in users {
        for group in &user.groups {
            memberships.insert(vec![user.username.clone(), group.clone()]);
        }
    }
    enforcer.add_grouping_policies(memberships.into_iter().collect()).await.expect("groupings");
    enforcer
}

fn casbin_args(user: &UserInfo, request: &Attributes) -> Vec<String> {
    let r = resource_of(request);
    let combined = if r.subresource.is_empty() { r.resource.clone() } else { format!("{}/{}", r.resource, r.subresource) };
    vec![user.username.clone(), r.namespace.clone(), r.group.clone(), combined, r.subresource.clone(), r.name.clone(), r.verb.clone()]
}

fn cycle<'a, T>(items: &'a [T]) -> impl FnMut() -> &'a T {
    let mut next = 0usize;
    move || {
        next = next.wrapping_add(1);
        &items[next % items.len()]
    }
}

fn benches(c: &mut Criterion) {
    let Shape { policy, users, allowed, denied } = generate(42, REQUESTS);
    let [roles, cluster_roles, role_bindings, cluster_role_bindings] = policy.counts();
    eprintln!("policy: {cluster_roles} ClusterRoles, {roles} Roles, {cluster_role_bindings} ClusterRoleBindings, {role_bindings} RoleBindings");

    // Resident memory of the index: build several and keep them, so that allocator reuse
    // of memory freed while generating the policy does not hide the cost.
    const COPIES: u64 = 8;
    let before = resident_kib();
    let copies: Vec<RbacAuthorizer> = (0..COPIES).map(|_| RbacAuthorizer::new(&policy)).collect();
    let after = resident_kib();
    let index = copies[0].clone();
    eprintln!(
        "index: {:?}; resident memory {} KiB per index (mean of {COPIES})",
        index.stats(),
        after.saturating_sub(before) / COPIES
    );
    drop(copies);
    let scan = ScanAuthorizer::new(Arc::new(policy.clone()));
    for (user, request) in &allowed {
        assert!(scan.authorize(user, request).is_allowed());
    }
    for (user, request) in &denied {
        assert!(!scan.authorize(user, request).is_allowed());
    }

    let mut group = c.benchmark_group("authz/decision");
    group.bench_function("rampart-index/allowed", |b| {
        let mut next = cycle(&allowed);
        b.iter(|| {
            let (user, request) = next();
            black_box(index.authorize(user, request))
        })
    });
    group.bench_function("rampart-index/denied", |b| {
        let mut next = cycle(&denied);
        b.iter(|| {
            let (user, request) = next();
            black_box(index.authorize(user, request))
        })
    });
    group.bench_function("apiserver-scan/allowed", |b| {
        let mut next = cycle(&allowed);
        b.iter(|| {
            let (user, request) = next();
            black_box(scan.authorize(user, request))
        })
    });
    group.bench_function("apiserver-scan/denied", |b| {
        let mut next = cycle(&denied);
        b.iter(|| {
            let (user, request) = next();
            black_box(scan.authorize(user, request))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("authz/build");
    group.sample_size(20);
    group.bench_function("rampart-index", |b| b.iter(|| black_box(RbacAuthorizer::new(&policy))));
    group.finish();

    // Peers: translate, prove equivalence on every request, then measure. Slow (minutes);
    // RAMPART_BENCH_PEERS=0 skips them while iterating on rampart itself.
    if std::env::var("RAMPART_BENCH_PEERS").is_ok_and(|v| v == "0") {
        return;
    }
    let cedar = cedar_policies(&policy);
    eprintln!("cedar: {} policies", cedar.policies().count());
    let cedar_authorizer = cedar_policy::Authorizer::new();
    let prepare = |requests: &[(UserInfo, Attributes)]| requests.iter().map(|(u, r)| cedar_request(u, r)).collect::<Vec<_>>();
    let (cedar_allowed, cedar_denied) = (prepare(&allowed), prepare(&denied));
    for (request, entities) in &cedar_allowed {
        assert_eq!(cedar_authorizer.is_authorized(request, &cedar, entities).decision(), cedar_policy::Decision::Allow);
    }
    for (request, entities) in &cedar_denied {
        assert_eq!(cedar_authorizer.is_authorized(request, &cedar, entities).decision(), cedar_policy::Decision::Deny);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let casbin = runtime.block_on(casbin_enforcer(&policy, &users));
    let casbin_allowed: Vec<Vec<String>> = allowed.iter().map(|(u, r)| casbin_args(u, r)).collect();
    let casbin_denied: Vec<Vec<String>> = denied.iter().map(|(u, r)| casbin_args(u, r)).collect();
    for args in &casbin_allowed {
        assert!(casbin.enforce(args.clone()).expect("enforce"), "casbin denies {args:?}");
    }
    for args in &casbin_denied {
        assert!(!casbin.enforce(args.clone()).expect("enforce"), "casbin allows {args:?}");
    }

    let mut group = c.benchmark_group("authz/peers");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(1));
    group.bench_function("cedar/allowed", |b| {
        let mut next = cycle(&cedar_allowed);
        b.iter(|| {
            let (request, entities) = next();
            black_box(cedar_authorizer.is_authorized(request, &cedar, entities))
        })
    });
    group.bench_function("cedar/denied", |b| {
        let mut next = cycle(&cedar_denied);
        b.iter(|| {
            let (request, entities) = next();
            black_box(cedar_authorizer.is_authorized(request, &cedar, entities))
        })
    });
    group.bench_function("casbin/allowed", |b| {
        let mut next = cycle(&casbin_allowed);
        b.iter(|| black_box(casbin.enforce(next().clone())))
    });
    group.bench_function("casbin/denied", |b| {
        let mut next = cycle(&casbin_denied);
        b.iter(|| black_box(casbin.enforce(next().clone())))
    });
    group.finish();
}

criterion_group!(authz, benches);
criterion_main!(authz);
