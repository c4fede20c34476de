//! The authenticated identity, as Kubernetes describes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Who made a request: Kubernetes' `authentication.k8s.io/v1` `UserInfo`.
///
/// The serde form is exactly Kubernetes' JSON (`username`, `uid`, `groups`, `extra`, each
/// omitted when empty, `null` read as empty), so it can be put into a TokenReview status or
/// read from a SubjectAccessReview unchanged. The fields are plain data: an authenticator
/// fills them, an authorizer reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserInfo {
    /// The name that uniquely identifies the user among all active users.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub username: String,
    /// A stable identifier that survives a rename of the user (Kubernetes `uid`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub uid: String,
    /// The groups the user belongs to, in the order the authenticator gave them.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
    /// Further attributes an authenticator recorded (e.g. scopes, the IdP's session id).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The group every authenticated request carries in Kubernetes.
    pub const AUTHENTICATED_GROUP: &'static str = "system:authenticated";

    /// The prefix Kubernetes reserves for its own users and groups (`system:masters`,
    /// `system:node:…`, `system:serviceaccount:…`).
    pub const RESERVED_PREFIX: &'static str = "system:";

    /// Whether `name` (a username or a group) is one of Kubernetes' reserved identities.
    /// The one test every block applies before it lets an outside source name a user or
    /// group: an IdP claim, a certificate request, an operator's new local account.
    pub fn is_reserved_name(name: &str) -> bool {
        name.starts_with(Self::RESERVED_PREFIX)
    }

    /// The certificate subject attribute Kubernetes (1.33+) reads a user's uid from.
    pub const CERTIFICATE_UID_OID: &'static str = "1.3.6.1.4.1.57683.2";

    /// The user a verified client certificate names, by Kubernetes' rule (the x509
    /// authenticator's `CommonNameUserConversion`): username = subject CN, groups =
    /// subject O in order, uid = the [`UserInfo::CERTIFICATE_UID_OID`] attribute. `None`
    /// when the CN is empty: Kubernetes then does not authenticate the request. The one
    /// mapping both the certificate block and the X.509 authenticator use.
    pub fn from_certificate_subject(
        common_name: &str,
        organizations: &[String],
        uid: Option<&str>,
    ) -> Option<UserInfo> {
        if common_name.is_empty() {
            return None;
        }
        let user = UserInfo {
            username: common_name.to_owned(),
            groups: organizations.to_vec(),
            ..UserInfo::default()
        };
        Some(match uid {
            Some(uid) => user.with_uid(uid),
            None => user,
        })
    }

    /// A user with a name and nothing else.
    pub fn new(username: impl Into<String>) -> Self {
        UserInfo {
            username: username.into(),
            ..UserInfo::default()
        }
    }

    /// Adds groups, keeping their order and skipping ones the user already has.
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for group in groups {
            let group = group.into();
            if !self.groups.contains(&group) {
                self.groups.push(group);
            }
        }
        self
    }

    /// Sets the stable user id.
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = uid.into();
        self
    }

    /// Adds values under an `extra` key.
    pub fn with_extra_values<I, S>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra
            .entry(key.into())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// Whether the user is in `group` (exact, case-sensitive, as RBAC compares).
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The group every unauthenticated (anonymous) request carries in Kubernetes.
    pub const UNAUTHENTICATED_GROUP: &'static str = "system:unauthenticated";

    /// The anonymous user's name.
    pub const ANONYMOUS: &'static str = "system:anonymous";

    /// The user as kube-apiserver hands it to authorization after its authenticator union
    /// (`AuthenticatedGroupAdder`): `system:authenticated` is added, unless the user is
    /// `system:anonymous` or already carries `system:authenticated` or
    /// `system:unauthenticated`. The one place this rule lives; apply it where Kubernetes
    /// does — after the union, to every authenticated user — so that a binding to
    /// `system:authenticated` grants what it grants in a cluster.
    pub fn with_authenticated_group(self) -> Self {
        if self.username == Self::ANONYMOUS
            || self.in_group(Self::AUTHENTICATED_GROUP)
            || self.in_group(Self::UNAUTHENTICATED_GROUP)
        {
            self
        } else {
            self.with_groups([Self::AUTHENTICATED_GROUP])
        }
    }
}

/// Reads JSON `null` as the type's default, as Go's decoder does for slices, maps and strings.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_kubernetes_system_identities() {
        for name in [
            "system:masters",
            "system:node:n1",
            "system:serviceaccount:ns:sa",
            "system:",
        ] {
            assert!(UserInfo::is_reserved_name(name), "{name}");
        }
        for name in [
            "alice",
            "System:masters",
            "systems:x",
            " system:masters",
            "",
        ] {
            assert!(!UserInfo::is_reserved_name(name), "{name}");
        }
    }

    #[test]
    fn certificate_subjects_map_as_kubernetes_maps_them() {
        let groups = vec![
            "system:nodes".to_owned(),
            "dev".to_owned(),
            "dev".to_owned(),
        ];
        let user = UserInfo::from_certificate_subject("system:node:n1", &groups, None).unwrap();
        assert_eq!(user.username, "system:node:n1");
        // Organisations are kept as given, duplicates included, as Go's pkix.Name has them.
        assert_eq!(user.groups, groups);
        assert_eq!(user.uid, "");
        let user = UserInfo::from_certificate_subject("alice", &[], Some("u-1")).unwrap();
        assert_eq!(user.uid, "u-1");
        assert_eq!(UserInfo::from_certificate_subject("", &groups, None), None);
    }

    #[test]
    fn empty_fields_are_omitted_and_null_reads_as_empty() {
        let user = UserInfo::new("jane");
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            r#"{"username":"jane"}"#
        );
        let read: UserInfo =
            serde_json::from_str(r#"{"username":"jane","groups":null,"extra":null,"uid":null}"#)
                .unwrap();
        assert_eq!(read, user);
    }

    #[test]
    fn groups_keep_order_without_duplicates() {
        let user = UserInfo::new("jane").with_groups(["b", "a", "b"]);
        assert_eq!(user.groups, ["b", "a"]);
        assert!(user.in_group("a"));
        assert!(!user.in_group("A"));
    }
}
