//! An account store that records every change it makes (AC-2(4), AU-2): creation, group or
//! flag updates, disabling (by an administrator or [`disable_inactive`](crate::disable_inactive)),
//! enabling, deletion and password changes, each as its own event naming the acting user.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use rampart_core::{Action, AuditEvent, Outcome, SharedAuditSink, SharedClock, Target, UserInfo};

use crate::password::account::{Account, AccountChange, AccountStore, StoreError, StoreFuture};

/// Wraps a store so that every change is an audit event in `sink`, with `actor` as who
/// made it. A change whose event cannot be recorded is still made (the store is the truth)
/// and answered [`StoreError::Unaudited`], so the caller alerts; reads are not audited.
///
/// A login recording its time is not an account change and leaves no event here (the
/// `authn.attempt` event covers it).
pub struct AuditedStore<S> {
    inner: S,
    sink: SharedAuditSink,
    clock: SharedClock,
    actor: UserInfo,
}

impl<S> fmt::Debug for AuditedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditedStore")
            .field("actor", &self.actor.username)
            .finish_non_exhaustive()
    }
}

impl<S: AccountStore> AuditedStore<S> {
    /// Audits the changes `actor` makes to `inner`.
    pub fn new(inner: S, sink: SharedAuditSink, clock: SharedClock, actor: UserInfo) -> Self {
        AuditedStore {
            inner,
            sink,
            clock,
            actor,
        }
    }

    /// The same store and trail, with changes made by another actor (an administrator
    /// per request, or the inactivity job).
    pub fn acting_as(&self, actor: UserInfo) -> AuditedStore<&S> {
        AuditedStore {
            inner: &self.inner,
            sink: self.sink.clone(),
            clock: self.clock.clone(),
            actor,
        }
    }

    async fn record(&self, username: &str, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut tickets = Vec::with_capacity(changes.len());
        for (action, details) in changes {
            let mut event = AuditEvent::new(action, Outcome::Success, self.clock.now())
                .with_actor(self.actor.clone())
                .with_target(Target::new("account", username));
            for (key, value) in details {
                event = event.with_detail(key, value);
            }
            tickets.push(self.sink.submit(event));
        }
        rampart_core::AuditTicket::all(tickets)
            .await
            .map_err(|_| StoreError::Unaudited)
    }
}

/// One audited action and its details.
type Change = (Action, Vec<(&'static str, serde_json::Value)>);

/// What an account grants, for the event that creates it: its groups (a `system:masters`
/// grant must stand out), uid and flags.
fn created(account: &Account) -> Vec<Change> {
    vec![(
        Action::AccountCreated,
        vec![
            ("groups", serde_json::json!(account.groups)),
            ("uid", serde_json::json!(account.uid)),
            ("disabled", serde_json::json!(account.disabled)),
            ("must_change", serde_json::json!(account.must_change)),
        ],
    )]
}

/// The audited actions one write amounts to, by what changed: an update names the fields
/// and, for groups, what they were and became. A change of the last login alone is none.
fn changes(before: &Account, after: &Account) -> Vec<Change> {
    let mut actions = Vec::new();
    if before.password_hash != after.password_hash
        || before.password_changed_at != after.password_changed_at
    {
        actions.push((Action::PasswordChanged, Vec::new()));
    }
    let mut fields = Vec::new();
    let mut details = Vec::new();
    if before.groups != after.groups {
        fields.push("groups");
        details.push(("groups_before", serde_json::json!(before.groups)));
        details.push(("groups", serde_json::json!(after.groups)));
    }
    if before.uid != after.uid {
        fields.push("uid");
        details.push(("uid", serde_json::json!(after.uid)));
    }
    if before.must_change != after.must_change {
        fields.push("must_change");
        details.push(("must_change", serde_json::json!(after.must_change)));
    }
    if !fields.is_empty() {
        details.push(("fields", serde_json::json!(fields)));
        actions.push((Action::AccountUpdated, details));
    }
    match (before.disabled, after.disabled) {
        (false, true) => actions.push((Action::AccountDisabled, Vec::new())),
        (true, false) => actions.push((Action::AccountEnabled, Vec::new())),
        _ => {}
    }
    actions
}

impl<S: AccountStore> AccountStore for AuditedStore<S> {
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>> {
        self.inner.get(username)
    }

    fn insert(&self, account: Account) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let username = account.username.clone();
            let details = created(&account);
            self.inner.insert(account).await?;
            self.record(&username, details).await
        })
    }

    fn update(&self, account: Account) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let username = account.username.clone();
            let before = Mutex::new(None);
            let after = account.clone();
            // Through modify, so the state replaced is exactly the one compared.
            let change: AccountChange<'_> = Box::new(|stored: &mut Account| {
                *before.lock().unwrap_or_else(PoisonError::into_inner) = Some(stored.clone());
                *stored = after;
            });
            self.inner.modify(&username, change).await?;
            let before = before.into_inner().unwrap_or_else(PoisonError::into_inner);
            match before {
                Some(before) => self.record(&username, changes(&before, &account)).await,
                None => Ok(()),
            }
        })
    }

    fn modify<'a>(
        &'a self,
        username: &'a str,
        change: AccountChange<'a>,
    ) -> StoreFuture<'a, Account> {
        Box::pin(async move {
            let before = Mutex::new(None);
            let watched: AccountChange<'_> = Box::new(|stored: &mut Account| {
                *before.lock().unwrap_or_else(PoisonError::into_inner) = Some(stored.clone());
                change(stored);
            });
            let written = self.inner.modify(username, watched).await?;
            let before = before.into_inner().unwrap_or_else(PoisonError::into_inner);
            if let Some(before) = before {
                self.record(username, changes(&before, &written)).await?;
            }
            Ok(written)
        })
    }

    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        self.inner.list()
    }

    fn delete<'a>(&'a self, username: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner.delete(username).await?;
            self.record(username, vec![(Action::AccountDeleted, Vec::new())])
                .await
        })
    }
}

impl<T: AccountStore + ?Sized> AccountStore for &T {
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>> {
        (**self).get(username)
    }

    fn insert(&self, account: Account) -> StoreFuture<'_, ()> {
        (**self).insert(account)
    }

    fn update(&self, account: Account) -> StoreFuture<'_, ()> {
        (**self).update(account)
    }

    fn modify<'a>(
        &'a self,
        username: &'a str,
        change: AccountChange<'a>,
    ) -> StoreFuture<'a, Account> {
        (**self).modify(username, change)
    }

    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        (**self).list()
    }

    fn delete<'a>(&'a self, username: &'a str) -> StoreFuture<'a, ()> {
        (**self).delete(username)
    }
}
