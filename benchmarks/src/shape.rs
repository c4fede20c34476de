//! A policy shaped like a large multi-tenant cluster: Kubernetes' bootstrap policy plus
//! 600 ClusterRoles, 1,400 Roles, 2,000 ClusterRoleBindings and 8,000 RoleBindings over
//! 200 namespaces; 5,000 users and 300 groups. Deterministic for a given seed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rampart_authz::{
    ClusterRole, ClusterRoleBinding, Loader, Policy, PolicyRule, RbacAuthorizer, Role,
    RoleBinding, RoleRef, Subject,
};
use rampart_core::{Attributes, Authorizer, ResourceAttributes, UserInfo};

/// Namespaces in the generated cluster.
pub const NAMESPACES: usize = 200;
/// Generated ClusterRoles (on top of the bootstrap ones).
pub const CLUSTER_ROLES: usize = 600;
/// Generated Roles, spread evenly over the namespaces.
pub const ROLES: usize = 1_400;
/// Generated ClusterRoleBindings.
pub const CLUSTER_ROLE_BINDINGS: usize = 2_000;
/// Generated RoleBindings, spread evenly over the namespaces.
pub const ROLE_BINDINGS: usize = 8_000;
/// Users in the identity pool.
pub const USERS: usize = 5_000;
/// Groups in the identity pool.
pub const GROUPS: usize = 300;

const VERBS: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];

/// SplitMix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// API groups and their resources.
fn api_groups() -> Vec<(String, Vec<String>)> {
    let mut groups = vec![
        ("".to_owned(), ["pods", "pods/log", "pods/exec", "services", "configmaps", "secrets", "serviceaccounts", "events", "endpoints", "persistentvolumeclaims"].map(String::from).to_vec()),
        ("apps".to_owned(), ["deployments", "deployments/scale", "statefulsets", "statefulsets/scale", "daemonsets", "replicasets"].map(String::from).to_vec()),
        ("batch".to_owned(), ["jobs", "cronjobs", "jobs/status"].map(String::from).to_vec()),
        ("networking.k8s.io".to_owned(), ["ingresses", "networkpolicies"].map(String::from).to_vec()),
        ("policy".to_owned(), ["poddisruptionbudgets"].map(String::from).to_vec()),
        ("autoscaling".to_owned(), ["horizontalpodautoscalers"].map(String::from).to_vec()),
    ];
    for team in 0..30 {
        let resources = (0..8).map(|k| format!("widget{k}s")).chain(["widget0s/status".to_owned()]).collect();
        groups.push((format!("team{team}.example.com"), resources));
    }
    groups
}

fn random_rule(rng: &mut Rng, groups: &[(String, Vec<String>)]) -> PolicyRule {
    let verbs = if rng.chance(5) {
        vec!["*".to_owned()]
    } else {
        let count = 1 + rng.below(4);
        let mut verbs: Vec<String> = (0..count).map(|_| (*rng.pick(VERBS)).to_owned()).collect();
        verbs.sort();
        verbs.dedup();
        verbs
    };
    let (group, resources) = rng.pick(groups).clone();
    let api_groups = if rng.chance(3) { vec!["*".to_owned()] } else { vec![group] };
    let resources = if rng.chance(5) {
        vec!["*".to_owned()]
    } else if rng.chance(3) {
        vec!["*/scale".to_owned()]
    } else {
        let count = 1 + rng.below(5);
        let mut chosen: Vec<String> = (0..count).map(|_| rng.pick(&resources).clone()).collect();
        chosen.sort();
        chosen.dedup();
        chosen
    };
    let resource_names = if rng.chance(10) {
        (0..1 + rng.below(2)).map(|_| format!("obj-{}", rng.below(50))).collect()
    } else {
        Vec::new()
    };
    PolicyRule { verbs, api_groups, resources, resource_names, non_resource_urls: Vec::new() }
}

fn namespace(index: usize) -> String {
    format!("tenant-{index:03}")
}

/// A pool identity: a user name with its groups (always including `system:authenticated`).
fn identity(rng: &mut Rng, index: usize) -> UserInfo {
    let count = 2 + rng.below(4);
    let groups: Vec<String> = (0..count).map(|_| format!("group-{:03}", rng.below(GROUPS))).collect();
    UserInfo::new(format!("user-{index:04}")).with_groups(groups).with_groups(["system:authenticated"])
}

fn random_subjects(rng: &mut Rng, users: &[UserInfo]) -> Vec<Subject> {
    (0..1 + rng.below(3))
        .map(|_| match rng.below(10) {
            0..=4 => Subject::user(&rng.pick(users).username),
            5..=8 => Subject::group(&format!("group-{:03}", rng.below(GROUPS))),
            _ => Subject::service_account(&namespace(rng.below(NAMESPACES)), &format!("sa-{}", rng.below(5))),
        })
        .collect()
}

/// The generated cluster and requests drawn from it.
#[derive(Debug)]
pub struct Shape {
    /// The policy, aggregated.
    pub policy: Policy,
    /// The identity pool.
    pub users: Vec<UserInfo>,
    /// Resource requests the policy allows.
    pub allowed: Vec<(UserInfo, Attributes)>,
    /// Resource requests the policy does not allow.
    pub denied: Vec<(UserInfo, Attributes)>,
}

/// Generates the cluster and `requests` allowed and `requests` denied requests.
pub fn generate(seed: u64, requests: usize) -> Shape {
    let mut rng = Rng::new(seed);
    let bootstrap = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../authz/tests/fixtures/k8s-bootstrap-policy");
    let mut policy = Loader::new().load_paths(&[bootstrap]).expect("bootstrap policy loads").policy;
    let groups = api_groups();
    let users: Vec<UserInfo> = (0..USERS).map(|i| identity(&mut rng, i)).collect();

    for index in 0..CLUSTER_ROLES {
        let rules = (0..3 + rng.below(6)).map(|_| random_rule(&mut rng, &groups)).collect();
        policy.add_cluster_role(ClusterRole { name: format!("gen-cr-{index:03}"), labels: BTreeMap::new(), rules, aggregation: None });
    }
    for index in 0..ROLES {
        let rules = (0..2 + rng.below(5)).map(|_| random_rule(&mut rng, &groups)).collect();
        policy.add_role(Role { namespace: namespace(index % NAMESPACES), name: format!("gen-role-{}", index / NAMESPACES), rules });
    }
    for index in 0..CLUSTER_ROLE_BINDINGS {
        let role = if rng.chance(10) { (*rng.pick(&["view", "edit"])).to_owned() } else { format!("gen-cr-{:03}", rng.below(CLUSTER_ROLES)) };
        let subjects = random_subjects(&mut rng, &users);
        policy.add_cluster_role_binding(ClusterRoleBinding { name: format!("gen-crb-{index:04}"), role_ref: RoleRef::cluster_role(&role), subjects });
    }
    for index in 0..ROLE_BINDINGS {
        let ns = namespace(index % NAMESPACES);
        let role_ref = match rng.below(10) {
            0..=4 => RoleRef::role(&format!("gen-role-{}", rng.below(ROLES / NAMESPACES))),
            5..=6 => RoleRef::cluster_role(*rng.pick(&["admin", "edit", "view"])),
            _ => RoleRef::cluster_role(&format!("gen-cr-{:03}", rng.below(CLUSTER_ROLES))),
        };
        let subjects = random_subjects(&mut rng, &users);
        policy.add_role_binding(RoleBinding { namespace: ns, name: format!("gen-rb-{index:04}"), role_ref, subjects });
    }
    let warnings = policy.aggregate();
    assert!(warnings.is_empty(), "{warnings:?}");

    let authorizer = RbacAuthorizer::new(&policy);
    let allowed = allowed_requests(&mut rng, &policy, &users, &groups, &authorizer, requests);
    let denied = denied_requests(&mut rng, &users, &groups, &authorizer, requests);
    Shape { policy, users, allowed, denied }
}

fn request(verb: &str, group: &str, entry: &str, name: &str, ns: &str, rng: &mut Rng, groups: &[(String, Vec<String>)]) -> Attributes {
    let entry = if entry == "*" {
        let resources = rng.pick(groups).1.clone();
        rng.pick(&resources).clone()
    } else {
        entry.to_owned()
    };
    let (resource, subresource) = match entry.split_once('/') {
        Some(("*", sub)) => ("deployments".to_owned(), sub.to_owned()),
        Some((res, sub)) => (res.to_owned(), sub.to_owned()),
        None => (entry, String::new()),
    };
    Attributes::Resource(ResourceAttributes {
        namespace: ns.to_owned(),
        verb: verb.to_owned(),
        group: group.to_owned(),
        resource,
        subresource,
        name: name.to_owned(),
        ..ResourceAttributes::default()
    })
}

fn allowed_requests(
    rng: &mut Rng,
    policy: &Policy,
    users: &[UserInfo],
    groups: &[(String, Vec<String>)],
    authorizer: &RbacAuthorizer,
    count: usize,
) -> Vec<(UserInfo, Attributes)> {
    let role_bindings: Vec<&RoleBinding> = policy.role_bindings().filter(|b| b.name.starts_with("gen-")).collect();
    let cluster_bindings: Vec<&ClusterRoleBinding> = policy.cluster_role_bindings().filter(|b| b.name.starts_with("gen-")).collect();
    let mut by_group: BTreeMap<&str, Vec<&UserInfo>> = BTreeMap::new();
    for user in users {
        for group in &user.groups {
            by_group.entry(group.as_str()).or_default().push(user);
        }
    }
    let mut found = Vec::new();
    while found.len() < count {
        let (ns, role_ref, subjects) = if rng.chance(80) {
            let b = rng.pick(&role_bindings);
            (b.namespace.clone(), b.role_ref.clone(), b.subjects.clone())
        } else {
            let b = rng.pick(&cluster_bindings);
            (namespace(rng.below(NAMESPACES)), b.role_ref.clone(), b.subjects.clone())
        };
        let rules = match role_ref.kind.as_str() {
            "Role" => policy.role(&ns, &role_ref.name).map(|r| r.rules.clone()),
            _ => policy.cluster_role(&role_ref.name).map(|r| r.rules.clone()),
        }
        .unwrap_or_default();
        let resource_rules: Vec<&PolicyRule> = rules.iter().filter(|r| !r.resources.is_empty() && !r.api_groups.is_empty()).collect();
        if resource_rules.is_empty() {
            continue;
        }
        let rule = *rng.pick(&resource_rules);
        let subject = rng.pick(&subjects).clone();
        let user = match subject.kind.as_str() {
            "Group" => match by_group.get(subject.name.as_str()) {
                Some(members) => (*rng.pick(members)).clone(),
                None => continue,
            },
            "User" => users.iter().find(|u| u.username == subject.name).cloned().unwrap_or_else(|| UserInfo::new(subject.name.clone())),
            _ => {
                let sa_ns = if subject.namespace.is_empty() { ns.clone() } else { subject.namespace.clone() };
                UserInfo::new(format!("system:serviceaccount:{sa_ns}:{}", subject.name)).with_groups([
                    "system:serviceaccounts".to_owned(),
                    format!("system:serviceaccounts:{sa_ns}"),
                    "system:authenticated".to_owned(),
                ])
            }
        };
        let verb = rng.pick(&rule.verbs).replace('*', "get");
        let group = if rule.api_groups.iter().any(|g| g == "*") { rng.pick(groups).0.clone() } else { rng.pick(&rule.api_groups).clone() };
        let entry = rng.pick(&rule.resources).clone();
        let name = if rule.resource_names.is_empty() { format!("obj-{}", rng.below(50)) } else { rng.pick(&rule.resource_names).clone() };
        let attributes = request(&verb, &group, &entry, &name, &ns, rng, groups);
        if authorizer.authorize(&user, &attributes).is_allowed() {
            found.push((user, attributes));
        }
    }
    found
}

fn denied_requests(
    rng: &mut Rng,
    users: &[UserInfo],
    groups: &[(String, Vec<String>)],
    authorizer: &RbacAuthorizer,
    count: usize,
) -> Vec<(UserInfo, Attributes)> {
    let mut found = Vec::new();
    while found.len() < count {
        let user = rng.pick(users).clone();
        let (group, resources) = rng.pick(groups).clone();
        let entry = rng.pick(&resources).clone();
        let verb = *rng.pick(VERBS);
        let ns = namespace(rng.below(NAMESPACES));
        let name = format!("obj-{}", rng.below(50));
        let attributes = request(verb, &group, &entry, &name, &ns, rng, groups);
        if !authorizer.authorize(&user, &attributes).is_allowed() {
            found.push((user, attributes));
        }
    }
    found
}
