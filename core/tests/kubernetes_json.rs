//! The serde shapes of rampart-core against real Kubernetes JSON, cross-checked with
//! k8s-openapi's generated types (an independent implementation of the same schema).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]
use std::path::Path;

use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SubjectAccessReview};
use rampart_core::{
    Attributes, ResourceAttributes, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
    TokenReviewStatus, UserInfo,
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k8s")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

const SUBJECT_ACCESS_REVIEWS: &[&str] = &[
    "sar-v1-nonresource-kube-rbac-proxy.json",
    "sar-v1-resource-serviceaccount.json",
    "sar-v1-resource-all-fields.json",
    "sar-v1-resource-selectors.json",
];

#[test]
fn subject_access_review_specs_round_trip_and_agree_with_k8s_openapi() {
    for name in SUBJECT_ACCESS_REVIEWS {
        let document = fixture(name);
        let spec: SubjectAccessReviewSpec =
            serde_json::from_value(document["spec"].clone()).unwrap();
        let (user, request) = spec.to_request().unwrap();

        // Rebuilt from the typed request, the spec is the same JSON as the original.
        let rebuilt =
            serde_json::to_value(SubjectAccessReviewSpec::from_request(&user, &request)).unwrap();
        assert_eq!(rebuilt, document["spec"], "{name}");

        // k8s-openapi reads the same document and writes the same spec.
        let theirs: SubjectAccessReview = serde_json::from_value(document.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&theirs.spec).unwrap(),
            rebuilt,
            "{name}"
        );

        // The user and the attributes carry the fields Kubernetes gave.
        assert_eq!(
            user.username,
            theirs.spec.user.clone().unwrap_or_default(),
            "{name}"
        );
        assert_eq!(
            user.groups,
            theirs.spec.groups.clone().unwrap_or_default(),
            "{name}"
        );
        match (&request, &theirs.spec.resource_attributes) {
            (Attributes::Resource(ours), Some(theirs)) => {
                assert_eq!(ours.verb, theirs.verb.clone().unwrap_or_default());
                assert_eq!(ours.namespace, theirs.namespace.clone().unwrap_or_default());
                assert_eq!(ours.resource, theirs.resource.clone().unwrap_or_default());
                assert_eq!(
                    ours.subresource,
                    theirs.subresource.clone().unwrap_or_default()
                );
                assert_eq!(ours.name, theirs.name.clone().unwrap_or_default());
            }
            (Attributes::NonResource(ours), None) => {
                let theirs = theirs.spec.non_resource_attributes.clone().unwrap();
                assert_eq!(ours.path, theirs.path.unwrap_or_default());
                assert_eq!(ours.verb, theirs.verb.unwrap_or_default());
            }
            _ => panic!("{name}: request kinds disagree"),
        }
    }
}

#[test]
fn all_fields_fixture_reaches_every_attribute() {
    let document = fixture("sar-v1-resource-all-fields.json");
    let spec: SubjectAccessReviewSpec = serde_json::from_value(document["spec"].clone()).unwrap();
    let (user, request) = spec.to_request().unwrap();
    assert_eq!(user.uid, "42");
    assert_eq!(user.extra["scopes"], ["openid", "profile"]);
    let Attributes::Resource(attributes) = request else {
        panic!("resource request expected")
    };
    assert_eq!(
        attributes,
        ResourceAttributes {
            namespace: "kittensandponies".into(),
            verb: "get".into(),
            group: "unicorn.example.org".into(),
            version: "v1beta3".into(),
            resource: "pods".into(),
            subresource: "log".into(),
            name: "web-0".into(),
            field_selector: None,
            label_selector: None,
        }
    );
}

#[test]
fn review_statuses_round_trip() {
    for name in SUBJECT_ACCESS_REVIEWS
        .iter()
        .chain(&["ssar-v1-response-cluster-admin.json"])
    {
        let document = fixture(name);
        let status: SubjectAccessReviewStatus =
            serde_json::from_value(document["status"].clone()).unwrap_or_default();
        if document.get("status").is_some() {
            assert_eq!(
                serde_json::to_value(&status).unwrap(),
                document["status"],
                "{name}"
            );
        }
    }
    let document = fixture("ssar-v1-response-cluster-admin.json");
    let theirs: SelfSubjectAccessReview = serde_json::from_value(document.clone()).unwrap();
    let ours: ResourceAttributes =
        serde_json::from_value(document["spec"]["resourceAttributes"].clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&ours).unwrap(),
        serde_json::to_value(theirs.spec.resource_attributes.unwrap()).unwrap()
    );
    let status: SubjectAccessReviewStatus =
        serde_json::from_value(document["status"].clone()).unwrap();
    assert!(status.allowed);
    assert!(
        status
            .reason
            .starts_with("RBAC: allowed by ClusterRoleBinding")
    );
}

#[test]
fn user_info_inside_token_review_status_round_trips() {
    for name in [
        "tokenreview-v1-authenticated.json",
        "tokenreview-v1-unauthenticated.json",
    ] {
        let document = fixture(name);
        let status: TokenReviewStatus = serde_json::from_value(document["status"].clone()).unwrap();
        let written = serde_json::to_value(&status).unwrap();
        assert_eq!(written, document["status"], "{name}");
        let theirs: TokenReview = serde_json::from_value(document.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(theirs.status.unwrap()).unwrap(),
            written,
            "{name}"
        );
    }
    let document = fixture("tokenreview-v1-authenticated.json");
    let user: UserInfo = serde_json::from_value(document["status"]["user"].clone()).unwrap();
    assert_eq!(
        user,
        UserInfo::new("janedoe@example.com")
            .with_uid("42")
            .with_groups(["developers", "qa"])
            .with_extra_values("extrafield1", ["extravalue1", "extravalue2"])
    );
    assert_eq!(
        serde_json::to_value(&user).unwrap(),
        document["status"]["user"]
    );
}

#[test]
fn hostile_review_specs_are_refused_not_guessed() {
    for (json, why) in [
        (r#"{"user":"jane"}"#, "no attributes"),
        (
            r#"{"user":"jane","resourceAttributes":{},"nonResourceAttributes":{}}"#,
            "both attribute kinds",
        ),
        (r#"{"resourceAttributes":{"verb":"get"}}"#, "no subject"),
    ] {
        let spec: SubjectAccessReviewSpec = serde_json::from_str(json).unwrap();
        assert!(spec.to_request().is_err(), "{why}");
    }
    for json in [
        r#"{"user":["jane"],"resourceAttributes":{}}"#,
        r#"{"user":"jane","groups":"admins","resourceAttributes":{}}"#,
        r#"{"user":"jane","resourceAttributes":{"verb":1}}"#,
    ] {
        assert!(
            serde_json::from_str::<SubjectAccessReviewSpec>(json).is_err(),
            "{json}"
        );
    }
}
