//! Property tests: on random policies and requests, the compiled index decides exactly as
//! the reference scan (Kubernetes' algorithm), and names a binding that really allows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

mod support;

use proptest::prelude::*;
use rampart_authz::{
    ClusterRole, ClusterRoleBinding, Policy, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use rampart_core::{Attributes, UserInfo};
use support::*;

// Small alphabets so that random names collide and wildcards matter.
const VERBS: &[&str] = &["get", "list", "create", "*", "escalate", ""];
const GROUPS: &[&str] = &["", "apps", "*", "v1"];
const RESOURCES: &[&str] = &[
    "pods",
    "pods/log",
    "*",
    "*/log",
    "deployments",
    "pods/*",
    "*/*",
    "log",
];
const SUBRESOURCES: &[&str] = &["", "", "log", "*", "status"];
const NAMES: &[&str] = &["", "a", "b"];
const URLS: &[&str] = &["/healthz", "/api/*", "*", "/api", "/a**"];
const PATHS: &[&str] = &["/healthz", "/api", "/api/v1", "/apis", "", "/a"];
const NAMESPACES: &[&str] = &["", "ns1", "ns2"];
const PEOPLE: &[&str] = &[
    "alice",
    "bob",
    "system:serviceaccount:ns1:sa",
    "system:serviceaccount:ns2:sa",
    "",
];
const TEAMS: &[&str] = &["dev", "ops", "system:authenticated", ""];
const ROLE_NAMES: &[&str] = &["r1", "r2", "r3"];
const KINDS: &[&str] = &["Role", "ClusterRole", "Bogus"];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(items).prop_map(str::to_owned)
}

fn some_of(items: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pick(items), 0..=max)
}

/// One to `max` items, and now and then none (rules missing a field must allow nothing).
fn mostly_some_of(
    items: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        9 => proptest::collection::vec(pick(items), 1..=max),
        1 => Just(Vec::new()),
    ]
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    (
        mostly_some_of(VERBS, 2),
        mostly_some_of(GROUPS, 2),
        mostly_some_of(RESOURCES, 3),
        some_of(NAMES, 1),
        some_of(URLS, 2),
    )
        .prop_map(
            |(verbs, api_groups, resources, resource_names, non_resource_urls)| PolicyRule {
                verbs,
                api_groups,
                resources,
                resource_names,
                non_resource_urls,
            },
        )
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        pick(PEOPLE).prop_map(|name| Subject::user(&name)),
        pick(TEAMS).prop_map(|name| Subject::group(&name)),
        (pick(NAMESPACES), pick(&["sa", "other"]))
            .prop_map(|(ns, name)| Subject::service_account(&ns, &name)),
        pick(PEOPLE).prop_map(|name| Subject {
            kind: "user".into(),
            ..Subject::user(&name)
        }),
    ]
}

fn role_ref() -> impl Strategy<Value = RoleRef> {
    let kind = prop_oneof![3 => Just("ClusterRole".to_owned()), 2 => Just("Role".to_owned()), 1 => pick(KINDS)];
    (kind, pick(ROLE_NAMES)).prop_map(|(kind, name)| RoleRef {
        kind,
        ..RoleRef::cluster_role(&name)
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    let cluster_roles = proptest::collection::vec(
        (pick(ROLE_NAMES), proptest::collection::vec(rule(), 0..4)),
        0..4,
    );
    let roles = proptest::collection::vec(
        (
            pick(&["ns1", "ns2", "ns1", ""]),
            pick(ROLE_NAMES),
            proptest::collection::vec(rule(), 0..4),
        ),
        0..4,
    );
    let bindings = proptest::collection::vec(
        (
            pick(NAMESPACES),
            role_ref(),
            proptest::collection::vec(subject(), 0..3),
            proptest::bool::weighted(0.2),
        ),
        0..6,
    );
    (cluster_roles, roles, bindings).prop_map(|(cluster_roles, roles, bindings)| {
        let mut policy = Policy::new();
        for (name, rules) in cluster_roles {
            policy.add_cluster_role(ClusterRole {
                name,
                labels: Default::default(),
                rules,
                aggregation: None,
            });
        }
        for (namespace, name, rules) in roles {
            policy.add_role(Role {
                namespace,
                name,
                rules,
            });
        }
        for (position, (namespace, role_ref, subjects, namespaceless)) in
            bindings.into_iter().enumerate()
        {
            let name = format!("b{position}");
            // A RoleBinding without a namespace can only be built in code; it grants
            // nothing, in the index as in the reference.
            if namespace.is_empty() && !namespaceless {
                policy.add_cluster_role_binding(ClusterRoleBinding {
                    name,
                    role_ref,
                    subjects,
                });
            } else {
                policy.add_role_binding(RoleBinding {
                    namespace,
                    name,
                    role_ref,
                    subjects,
                });
            }
        }
        policy
    })
}

fn request() -> impl Strategy<Value = (UserInfo, Attributes)> {
    let who = (pick(PEOPLE), some_of(TEAMS, 2)).prop_map(|(name, groups)| UserInfo {
        username: name,
        groups,
        ..UserInfo::default()
    });
    let what = prop_oneof![
        3 => (pick(VERBS), pick(GROUPS), pick(&["pods", "deployments", "*", "log", "pods/log"]), pick(SUBRESOURCES), pick(NAMESPACES), pick(NAMES))
            .prop_map(|(verb, group, res, sub, ns, name)| resource(&verb, &group, &res, &sub, &ns, &name)),
        1 => (pick(VERBS), pick(PATHS)).prop_map(|(verb, path)| url(&verb, &path)),
    ];
    (who, what)
}

/// Reads choices from a byte stream, cycling.
struct Choices(Vec<u8>, usize);

impl Choices {
    fn next(&mut self) -> usize {
        let value = self
            .0
            .get(self.1 % self.0.len().max(1))
            .copied()
            .unwrap_or(0);
        self.1 += 1;
        usize::from(value)
    }

    fn pick<'a>(&mut self, items: &'a [String], fallback: &'a str) -> &'a str {
        if items.is_empty() {
            return fallback;
        }
        let position = self.next() % items.len();
        items.get(position).map_or(fallback, String::as_str)
    }
}

/// A request aimed at the policy: the user named by a binding subject, a verb, group,
/// resource, name or URL taken from one of its role's rules, the binding's namespace;
/// each piece sometimes replaced by a random one.
fn aimed_request(policy: &Policy, choices: Vec<u8>) -> Option<(UserInfo, Attributes)> {
    let mut choices = Choices(choices, 0);
    let bindings: Vec<(String, RoleRef, Vec<Subject>)> = policy
        .cluster_role_bindings()
        .map(|b| (String::new(), b.role_ref.clone(), b.subjects.clone()))
        .chain(
            policy
                .role_bindings()
                .map(|b| (b.namespace.clone(), b.role_ref.clone(), b.subjects.clone())),
        )
        .collect();
    if bindings.is_empty() {
        return None;
    }
    let (namespace, role_ref, subjects) = bindings.get(choices.next() % bindings.len())?.clone();
    let subject = subjects
        .get(choices.next() % subjects.len().max(1))
        .cloned()
        .unwrap_or_else(|| Subject::user("nobody"));
    let user = match subject.kind.as_str() {
        "Group" => UserInfo::new("someone").with_groups([subject.name.clone()]),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                namespace.clone()
            } else {
                subject.namespace.clone()
            };
            UserInfo::new(format!("system:serviceaccount:{ns}:{}", subject.name))
        }
        _ => UserInfo::new(subject.name.clone()),
    };
    let rules = match role_ref.kind.as_str() {
        "Role" => policy
            .role(&namespace, &role_ref.name)
            .map(|r| r.rules.clone()),
        _ => policy.cluster_role(&role_ref.name).map(|r| r.rules.clone()),
    }
    .unwrap_or_default();
    let rule = rules
        .get(choices.next() % rules.len().max(1))
        .cloned()
        .unwrap_or_default();
    let verb = choices.pick(&rule.verbs, "get").to_owned();
    if choices.next().is_multiple_of(4) {
        let path = choices
            .pick(&rule.non_resource_urls, "/healthz")
            .trim_end_matches('*')
            .to_owned();
        return Some((user, url(&verb, &path)));
    }
    let group = choices.pick(&rule.api_groups, "").to_owned();
    let entry = choices.pick(&rule.resources, "pods").to_owned();
    let (resource_name, subresource) = match entry.split_once('/') {
        Some(("*", sub)) => ("deployments".to_owned(), sub.to_owned()),
        Some((res, sub)) => (res.to_owned(), sub.to_owned()),
        None if entry == "*" => ("anything".to_owned(), String::new()),
        None => (entry.clone(), String::new()),
    };
    let name = choices.pick(&rule.resource_names, "").to_owned();
    let request_namespace = if namespace.is_empty() {
        "ns1".to_owned()
    } else {
        namespace
    };
    Some((
        user,
        resource(
            &verb,
            &group,
            &resource_name,
            &subresource,
            &request_namespace,
            &name,
        ),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn index_agrees_with_the_reference_scan(
        policy in policy(),
        random in proptest::collection::vec(request(), 1..4),
        aims in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 8), 0..6),
    ) {
        let mut requests = random;
        requests.extend(aims.into_iter().filter_map(|choices| aimed_request(&policy, choices)));
        let both = Both::new(&policy);
        for (user, request) in &requests {
            let decision = both.decide(user, request);
            if decision.is_allowed() {
                // The binding named in the reason must allow the request on its own.
                let reason = decision.reason();
                prop_assert!(reason.starts_with("RBAC: allowed by "), "{}", reason);
                let named = policy
                    .cluster_role_bindings()
                    .map(|b| (format!("ClusterRoleBinding \"{}\"", b.name), b.role_ref.clone(), String::new()))
                    .chain(policy.role_bindings().map(|b| (format!("RoleBinding \"{}/{}\"", b.name, b.namespace), b.role_ref.clone(), b.namespace.clone())))
                    .find(|(prefix, _, _)| reason.contains(&format!("by {prefix} ")))
                    .expect("reason names a binding");
                let (_, role_ref, namespace) = named;
                let rules = match role_ref.kind.as_str() {
                    "ClusterRole" => policy.cluster_role(&role_ref.name).map(|r| r.rules.clone()),
                    _ => policy.role(&namespace, &role_ref.name).map(|r| r.rules.clone()),
                }
                .expect("named role exists");
                prop_assert!(rules.iter().any(|rule| rampart_authz::rule_allows(request, rule)));
            }
        }
    }
}

/// The generators must reach every outcome, or the property above proves little.
#[test]
fn generated_cases_cover_allow_deny_and_resolution_errors() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use rampart_core::Authorizer;

    let mut runner = TestRunner::deterministic();
    let (mut allowed, mut denied, mut errors, mut non_resource_allowed) = (0, 0, 0, 0);
    for _ in 0..2000 {
        let policy = policy().new_tree(&mut runner).unwrap().current();
        let choices = proptest::collection::vec(any::<u8>(), 8)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let Some((user, request)) = aimed_request(&policy, choices) else {
            continue;
        };
        let decision = rampart_authz::RbacAuthorizer::new(&policy).authorize(&user, &request);
        match (decision.is_allowed(), decision.reason().is_empty()) {
            (true, _) => {
                allowed += 1;
                if !request.is_resource_request() {
                    non_resource_allowed += 1;
                }
            }
            (false, true) => denied += 1,
            (false, false) => errors += 1,
        }
    }
    assert!(
        allowed > 100 && denied > 100 && errors > 20 && non_resource_allowed >= 5,
        "allowed {allowed}, denied {denied}, with errors {errors}, non-resource allowed {non_resource_allowed}"
    );
}
