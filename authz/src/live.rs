//! Keeping the policy in sync with a live cluster (feature `kube`).
//!
//! Four kube watchers (Roles, ClusterRoles, RoleBindings, ClusterRoleBindings) feed one
//! task that keeps a [`Policy`] and, after every burst of changes, compiles a new index and
//! swaps it in atomically: a decision always sees one consistent policy, never half an
//! update. Until every kind has been listed once, the authorizer has no opinion (which a
//! caller denies): it never answers from a partial policy. When the watch connection fails,
//! the last complete policy stays in force while the watchers retry with backoff, as the
//! apiserver's own informer caches do. Aggregated ClusterRoles are taken as the cluster
//! stores them (its controller has aggregated them).

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::rbac::v1 as rbac;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use rampart_core::{Attributes, Authorizer, Decision, UserInfo};
use tokio::sync::watch;

use crate::index::RbacAuthorizer;
use crate::policy::{ClusterRole, ClusterRoleBinding, Policy, Role, RoleBinding};

/// The reason given while no complete policy has been read from the cluster yet.
pub const NOT_SYNCED: &str = "RBAC: policy not yet synced from the cluster";

/// An RBAC authorizer that follows a live cluster.
#[derive(Debug)]
pub struct LiveRbac {
    current: ArcSwapOption<RbacAuthorizer>,
    status: watch::Sender<SyncStatus>,
}

/// How the sync is going: published on every swap and every watch error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncStatus {
    /// Compiled policies swapped in so far.
    pub generation: u64,
    /// Watch errors seen so far (each retried with backoff).
    pub watch_errors: u64,
}

/// One change from one of the four watchers.
enum Change {
    Role(Event<rbac::Role>),
    ClusterRole(Event<rbac::ClusterRole>),
    RoleBinding(Event<rbac::RoleBinding>),
    ClusterRoleBinding(Event<rbac::ClusterRoleBinding>),
}

/// The objects of one kind being relisted, and whether the kind was ever listed whole.
struct Kind<T> {
    relisting: Option<Vec<T>>,
    listed: bool,
}

impl<T> Default for Kind<T> {
    fn default() -> Self {
        Kind {
            relisting: None,
            listed: false,
        }
    }
}

impl<T> Kind<T> {
    /// Applies one watcher event, handing `apply` what it does to the policy: a relist is
    /// buffered and applied whole at `InitDone`.
    fn event<K>(
        &mut self,
        event: Event<K>,
        convert: impl Fn(&K) -> T,
        apply: &mut impl FnMut(Update<T>),
    ) {
        match event {
            Event::Init => self.relisting = Some(Vec::new()),
            Event::InitApply(object) => self
                .relisting
                .get_or_insert_with(Vec::new)
                .push(convert(&object)),
            Event::InitDone => {
                let all = self.relisting.take().unwrap_or_default();
                self.listed = true;
                apply(Update::Replace(all));
            }
            Event::Apply(object) => apply(Update::Upsert(convert(&object))),
            Event::Delete(object) => apply(Update::Remove(convert(&object))),
        }
    }
}

/// What an event does to one kind of object in the policy.
enum Update<T> {
    Replace(Vec<T>),
    Upsert(T),
    Remove(T),
}

/// A watcher of every object of kind `K`, retried with backoff, as `Change`s.
fn stream<K>(
    client: &Client,
    wrap: fn(Event<K>) -> Change,
) -> BoxStream<'static, Result<Change, watcher::Error>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .map(move |event| event.map(wrap))
        .boxed()
}

impl LiveRbac {
    /// An authorizer with no policy yet; run [`LiveRbac::sync`] to fill it.
    pub fn new() -> Arc<Self> {
        Arc::new(LiveRbac {
            current: ArcSwapOption::empty(),
            status: watch::channel(SyncStatus::default()).0,
        })
    }

    /// Whether a complete policy has been read.
    pub fn is_synced(&self) -> bool {
        self.current.load().is_some()
    }

    /// The compiled policy in force, if any.
    pub fn current(&self) -> Option<Arc<RbacAuthorizer>> {
        self.current.load_full()
    }

    /// A receiver of the sync status; it changes on every swap and every watch error.
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    /// The sync status now.
    pub fn status(&self) -> SyncStatus {
        *self.status.borrow()
    }

    /// Follows the cluster behind `client` until the watch streams end (normally never).
    pub async fn sync(self: Arc<Self>, client: Client) {
        let mut streams: SelectAll<BoxStream<'static, Result<Change, watcher::Error>>> =
            SelectAll::new();
        streams.push(stream::<rbac::Role>(&client, Change::Role));
        streams.push(stream::<rbac::ClusterRole>(&client, Change::ClusterRole));
        streams.push(stream::<rbac::RoleBinding>(&client, Change::RoleBinding));
        streams.push(stream::<rbac::ClusterRoleBinding>(
            &client,
            Change::ClusterRoleBinding,
        ));

        let mut state = SyncState::default();
        while let Some(first) = streams.next().await {
            let mut changed = self.apply(&mut state, first);
            // Take every change already waiting, then compile once for the burst.
            while let Some(Some(next)) = streams.next().now_or_never() {
                changed |= self.apply(&mut state, next);
            }
            if changed && state.all_listed() {
                self.current
                    .store(Some(Arc::new(RbacAuthorizer::new(&state.policy))));
                self.status.send_modify(|status| status.generation += 1);
            }
        }
    }

    fn apply(&self, state: &mut SyncState, change: Result<Change, watcher::Error>) -> bool {
        let Ok(change) = change else {
            self.status.send_modify(|status| status.watch_errors += 1);
            return false;
        };
        let mut changed = false;
        let policy = &mut state.policy;
        match change {
            Change::Role(event) => state.roles.event(event, |r| Role::from(r), &mut |update| {
                changed = true;
                match update {
                    Update::Replace(all) => {
                        policy.roles.clear();
                        all.into_iter().for_each(|r| policy.add_role(r));
                    }
                    Update::Upsert(role) => policy.add_role(role),
                    Update::Remove(role) => {
                        policy.remove_role(&role.namespace, &role.name);
                    }
                }
            }),
            Change::ClusterRole(event) => {
                state
                    .cluster_roles
                    .event(event, |r| ClusterRole::from(r), &mut |update| {
                        changed = true;
                        match update {
                            Update::Replace(all) => {
                                policy.cluster_roles.clear();
                                all.into_iter().for_each(|r| policy.add_cluster_role(r));
                            }
                            Update::Upsert(role) => policy.add_cluster_role(role),
                            Update::Remove(role) => {
                                policy.remove_cluster_role(&role.name);
                            }
                        }
                    })
            }
            Change::RoleBinding(event) => {
                state
                    .role_bindings
                    .event(event, |b| RoleBinding::from(b), &mut |update| {
                        changed = true;
                        match update {
                            Update::Replace(all) => {
                                policy.role_bindings.clear();
                                all.into_iter().for_each(|b| policy.add_role_binding(b));
                            }
                            Update::Upsert(binding) => policy.add_role_binding(binding),
                            Update::Remove(binding) => {
                                policy.remove_role_binding(&binding.namespace, &binding.name);
                            }
                        }
                    })
            }
            Change::ClusterRoleBinding(event) => {
                state.cluster_role_bindings.event(
                    event,
                    |b| ClusterRoleBinding::from(b),
                    &mut |update| {
                        changed = true;
                        match update {
                            Update::Replace(all) => {
                                policy.cluster_role_bindings.clear();
                                all.into_iter()
                                    .for_each(|b| policy.add_cluster_role_binding(b));
                            }
                            Update::Upsert(binding) => policy.add_cluster_role_binding(binding),
                            Update::Remove(binding) => {
                                policy.remove_cluster_role_binding(&binding.name);
                            }
                        }
                    },
                );
            }
        }
        changed
    }
}

#[derive(Default)]
struct SyncState {
    policy: Policy,
    roles: Kind<Role>,
    cluster_roles: Kind<ClusterRole>,
    role_bindings: Kind<RoleBinding>,
    cluster_role_bindings: Kind<ClusterRoleBinding>,
}

impl SyncState {
    fn all_listed(&self) -> bool {
        self.roles.listed
            && self.cluster_roles.listed
            && self.role_bindings.listed
            && self.cluster_role_bindings.listed
    }
}

impl Authorizer for LiveRbac {
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        match &*self.current.load() {
            Some(authorizer) => authorizer.authorize(user, request),
            None => Decision::NoOpinion(NOT_SYNCED.to_owned()),
        }
    }
}
