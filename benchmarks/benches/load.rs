//! Loading a cluster-sized RBAC export: one multi-document YAML of 50,000 objects (the
//! shape `kubectl get … -o yaml` piped through a splitter gives), through the manifest
//! loader with the API server's validation, then aggregation and the index build.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_authz::{Loader, RbacAuthorizer};

/// Objects in the export: 2,000 ClusterRoles, 8,000 Roles, 10,000 ClusterRoleBindings and
/// 30,000 RoleBindings over 500 namespaces.
const OBJECTS: usize = 50_000;

fn export() -> String {
    let mut text = String::with_capacity(OBJECTS * 400);
    for n in 0..2_000 {
        text.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: cr{n}}}\nrules:\n- {{apiGroups: [\"\", apps], resources: [pods, deployments, pods/log], verbs: [get, list, watch]}}\n- {{apiGroups: [batch], resources: [jobs], resourceNames: [job{n}], verbs: [\"*\"]}}\n"
        ));
    }
    for n in 0..8_000 {
        text.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: r{n}, namespace: ns{}}}\nrules:\n- {{apiGroups: [\"\"], resources: [configmaps, secrets], verbs: [get, update]}}\n",
            n % 500
        ));
    }
    for n in 0..10_000 {
        text.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: crb{n}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cr{}}}\nsubjects:\n- {{kind: User, name: user{n}}}\n- {{kind: Group, name: group{}}}\n",
            n % 2_000,
            n % 300
        ));
    }
    for n in 0..30_000 {
        text.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: rb{n}, namespace: ns{}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: r{}}}\nsubjects:\n- {{kind: ServiceAccount, name: sa{n}, namespace: ns{}}}\n",
            n % 500,
            n % 8_000,
            n % 500
        ));
    }
    text
}

fn load(c: &mut Criterion) {
    let text = export();
    let loaded = Loader::new().load_str("export.yaml", &text).expect("the export loads");
    assert_eq!(loaded.policy.counts().iter().sum::<usize>(), OBJECTS);
    eprintln!("export: {OBJECTS} objects, {} bytes", text.len());
    let mut group = c.benchmark_group("load");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("50k objects: parse and validate", |b| {
        b.iter(|| black_box(Loader::new().load_str("export.yaml", black_box(&text)).unwrap()))
    });
    group.bench_function("50k objects: parse, validate, aggregate, index", |b| {
        b.iter(|| {
            let mut loaded = Loader::new().load_str("export.yaml", black_box(&text)).unwrap();
            let _ = loaded.policy.aggregate();
            black_box(RbacAuthorizer::new(&loaded.policy))
        })
    });
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
