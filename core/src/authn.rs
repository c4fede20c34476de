//! Authentication: the trait every credential check implements, and decorators over it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use crate::audit::{Action, AuditEvent, Outcome, SharedAuditSink};
use crate::clock::SharedClock;
use crate::context::RequestContext;
use crate::credential::Credential;
use crate::error::AuthnError;
use crate::user::UserInfo;

/// The identity an authenticator established.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authenticated {
    /// Who the credential proves the client to be.
    pub user: UserInfo,
    /// When the credential stops being valid (token `exp`, certificate `notAfter`); a
    /// session built on it must end no later (AC-12).
    pub expires_at: Option<SystemTime>,
}

impl Authenticated {
    /// An identity with no credential expiry.
    pub fn new(user: UserInfo) -> Self {
        Authenticated {
            user,
            expires_at: None,
        }
    }

    /// Sets the credential's expiry.
    pub fn expiring_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }
}

/// The future an [`Authenticator`] returns: boxed and `Send`, so authenticators can live
/// behind `Arc<dyn Authenticator<C>>` and run on a multi-threaded runtime.
pub type AuthnFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Authenticated, AuthnError>> + Send + 'a>>;

/// Checks a credential of type `C` and says who presented it.
///
/// Implementations make exactly one security decision: is this credential good? They
/// return [`AuthnError::InvalidCredentials`] for every "no" that depends on the secret or on
/// whether the account exists, and never put the credential into an error.
///
/// ```
/// use std::sync::Arc;
/// use rampart_core::{
///     Authenticated, Authenticator, AuthnError, AuthnFuture, Credential, PasswordCredential,
///     RequestContext, SecretString, UserInfo,
/// };
/// use subtle::ConstantTimeEq;
///
/// /// One fixed account, for the example only.
/// struct OneUser { username: String, password: SecretString }
///
/// impl Authenticator<PasswordCredential> for OneUser {
///     fn authenticate<'a>(
///         &'a self,
///         credential: &'a PasswordCredential,
///         _context: &'a RequestContext,
///     ) -> AuthnFuture<'a> {
///         Box::pin(async move {
///             let name_ok = credential.username().as_bytes().ct_eq(self.username.as_bytes());
///             let password_ok = credential.password().ct_eq(&self.password);
///             if bool::from(name_ok & password_ok) {
///                 Ok(Authenticated::new(UserInfo::new(&self.username)))
///             } else {
///                 Err(AuthnError::InvalidCredentials)
///             }
///         })
///     }
/// }
///
/// // Any authenticator can be shared as a trait object.
/// let authenticator: Arc<dyn Authenticator<PasswordCredential>> = Arc::new(OneUser {
///     username: "alice".into(),
///     password: SecretString::from("correct horse battery staple"),
/// });
/// let context = RequestContext::new();
/// let good = PasswordCredential::new("alice", "correct horse battery staple".into());
/// let bad = PasswordCredential::new("alice", "wrong".into());
/// futures_executor::block_on(async {
///     assert_eq!(authenticator.authenticate(&good, &context).await?.user.username, "alice");
///     assert_eq!(
///         authenticator.authenticate(&bad, &context).await,
///         Err(AuthnError::InvalidCredentials)
///     );
///     Ok::<_, AuthnError>(())
/// })?;
/// # Ok::<_, AuthnError>(())
/// ```
pub trait Authenticator<C: ?Sized>: Send + Sync {
    /// Checks `credential`, presented in `context`.
    ///
    /// # Errors
    /// An [`AuthnError`] of the class the caller must act on.
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a>;
}

impl<C: ?Sized, T: Authenticator<C> + ?Sized> Authenticator<C> for &T {
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        (**self).authenticate(credential, context)
    }
}

impl<C: ?Sized, T: Authenticator<C> + ?Sized> Authenticator<C> for Box<T> {
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        (**self).authenticate(credential, context)
    }
}

impl<C: ?Sized, T: Authenticator<C> + ?Sized> Authenticator<C> for Arc<T> {
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        (**self).authenticate(credential, context)
    }
}

/// Records an `authn.attempt` audit event for every attempt through the wrapped
/// authenticator (AU-2: logons, success and failure).
///
/// The event names the authenticator, the credential kind, the claimed or established
/// username, the source, the outcome and, on failure, the error class. It never contains
/// the credential.
///
/// # Security
/// Fails closed: when the sink refuses the event of a *successful* attempt, the attempt is
/// turned into [`AuthnError::Unavailable`] (backend `audit`), because an unrecorded login is
/// one the operator cannot account for (AU-5). A failed attempt stays failed either way.
pub struct Audited<A> {
    inner: A,
    name: String,
    sink: SharedAuditSink,
    clock: SharedClock,
}

impl<A> Audited<A> {
    /// Wraps `inner`, naming it `name` in events.
    pub fn new(
        inner: A,
        name: impl Into<String>,
        sink: SharedAuditSink,
        clock: SharedClock,
    ) -> Self {
        Audited {
            inner,
            name: name.into(),
            sink,
            clock,
        }
    }

    /// The wrapped authenticator.
    pub fn inner(&self) -> &A {
        &self.inner
    }
}

impl<A> fmt::Debug for Audited<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audited")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<C, A> Authenticator<C> for Audited<A>
where
    C: Credential + Sync + ?Sized,
    A: Authenticator<C>,
{
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(async move {
            let result = self.inner.authenticate(credential, context).await;
            let (outcome, actor, reason) = match &result {
                Ok(authenticated) => (Outcome::Success, authenticated.user.clone(), None),
                Err(error) => (
                    Outcome::Failure,
                    UserInfo::new(bounded_claim(
                        credential.claimed_username().unwrap_or_default(),
                    )),
                    Some(error.kind().as_str()),
                ),
            };
            let mut event = AuditEvent::new(Action::AuthnAttempt, outcome, self.clock.now())
                .with_actor(actor)
                .with_source(context.clone())
                .with_detail("authenticator", self.name.as_str())
                .with_detail("credential", credential.kind().as_str());
            if let Some(reason) = reason {
                event = event.with_reason(reason);
            }
            match (self.sink.submit(event).await, result) {
                (Err(_), Ok(_)) => Err(AuthnError::unavailable("audit")),
                (_, result) => result,
            }
        })
    }
}

/// Adds `system:authenticated` to every user its inner authenticator (typically the
/// union) authenticates, as kube-apiserver does after its union
/// ([`UserInfo::with_authenticated_group`]).
pub struct AuthenticatedGroup<A> {
    inner: A,
}

impl<A> AuthenticatedGroup<A> {
    /// Wraps `inner` (the union of every authenticator).
    pub fn new(inner: A) -> Self {
        AuthenticatedGroup { inner }
    }
}

impl<A> fmt::Debug for AuthenticatedGroup<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedGroup").finish_non_exhaustive()
    }
}

impl<C, A> Authenticator<C> for AuthenticatedGroup<A>
where
    C: Sync + ?Sized,
    A: Authenticator<C>,
{
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(async move {
            let mut authenticated = self.inner.authenticate(credential, context).await?;
            authenticated.user = authenticated.user.with_authenticated_group();
            Ok(authenticated)
        })
    }
}

/// Longest claimed username an audit event keeps, in characters: a username is short, and
/// an event must stay far below any sink's size limit whatever a client sends.
pub const MAX_CLAIMED_USERNAME_CHARS: usize = 256;

/// A username as claimed by an unauthenticated client, fit for an audit record: at most
/// [`MAX_CLAIMED_USERNAME_CHARS`] characters (an ellipsis marks a cut), control and
/// deceptive characters replaced.
pub fn bounded_claim(claimed: &str) -> String {
    let mut bounded = crate::text::sanitized(claimed, MAX_CLAIMED_USERNAME_CHARS);
    if claimed.chars().nth(MAX_CLAIMED_USERNAME_CHARS).is_some() {
        bounded.push('…');
    }
    bounded
}

/// Asks a list of authenticators in order, as Kubernetes' union authenticator does.
///
/// The first success wins. [`AuthnError::NotApplicable`] means "not mine": the next one is
/// asked. Any other error stops the search and is returned, so a token that one issuer
/// recognised and rejected is not offered to the rest. When no authenticator recognises the
/// credential, the result is [`AuthnError::InvalidCredentials`].
pub struct UnionAuthenticator<C: ?Sized> {
    members: Vec<Arc<dyn Authenticator<C>>>,
}

impl<C: ?Sized> UnionAuthenticator<C> {
    /// A union over `members`, asked in order.
    pub fn new(members: Vec<Arc<dyn Authenticator<C>>>) -> Self {
        UnionAuthenticator { members }
    }
}

impl<C: ?Sized> fmt::Debug for UnionAuthenticator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnionAuthenticator")
            .field("members", &self.members.len())
            .finish()
    }
}

impl<C: Sync + ?Sized> Authenticator<C> for UnionAuthenticator<C> {
    fn authenticate<'a>(
        &'a self,
        credential: &'a C,
        context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        Box::pin(async move {
            for member in &self.members {
                match member.authenticate(credential, context).await {
                    Err(AuthnError::NotApplicable) => continue,
                    decided => return decided,
                }
            }
            Err(AuthnError::InvalidCredentials)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MemorySink;
    use crate::clock::ManualClock;
    use crate::credential::{BearerToken, PasswordCredential};
    use crate::secret::SecretString;
    use futures_executor::block_on;

    #[test]
    fn the_authenticated_group_is_added_as_kube_apiserver_adds_it() {
        let add = |name: &str, groups: &[&str]| {
            UserInfo::new(name)
                .with_groups(groups.iter().copied())
                .with_authenticated_group()
                .groups
        };
        assert_eq!(add("alice", &[]), ["system:authenticated"]);
        assert_eq!(add("alice", &["dev"]), ["dev", "system:authenticated"]);
        assert_eq!(
            add("alice", &["system:authenticated"]),
            ["system:authenticated"]
        );
        assert_eq!(
            add("system:anonymous", &["system:unauthenticated"]),
            ["system:unauthenticated"]
        );
        assert!(add("system:anonymous", &[]).is_empty());
        assert_eq!(
            add("x", &["system:unauthenticated"]),
            ["system:unauthenticated"]
        );
        let union =
            AuthenticatedGroup::new(Fixed::new(Ok(Authenticated::new(UserInfo::new("bob")))));
        let bob = block_on(union.authenticate(
            &BearerToken::new(SecretString::from("t")),
            &RequestContext::new(),
        ))
        .unwrap();
        assert_eq!(bob.user.groups, ["system:authenticated"]);
    }

    /// A claimed username of megabytes (or with control characters) is bounded before it
    /// enters the event, so one hostile login can neither bloat nor break the trail.
    #[test]
    fn the_claimed_username_is_bounded_and_cleaned_in_the_event() {
        let sink = Arc::new(MemorySink::new());
        let audited = Audited::new(
            Fixed::new(Err(AuthnError::InvalidCredentials)),
            "local",
            sink.clone(),
            Arc::new(ManualClock::new(std::time::SystemTime::UNIX_EPOCH)),
        );
        let huge = format!("{}\n\u{202e}", "a".repeat(2 * 1024 * 1024));
        let credential = PasswordCredential::new(&huge, SecretString::from("x"));
        let result = block_on(audited.authenticate(&credential, &RequestContext::new()));
        assert_eq!(result.unwrap_err(), AuthnError::InvalidCredentials);
        let events = sink.events();
        let name = &events[0].actor.username;
        assert_eq!(name.chars().count(), MAX_CLAIMED_USERNAME_CHARS + 1);
        assert!(name.ends_with('…'));
        let short = bounded_claim("bob\u{2028}x");
        assert_eq!(short, "bob\u{fffd}x");
    }

    /// Answers with a fixed result and counts calls.
    struct Fixed(
        Result<Authenticated, AuthnError>,
        std::sync::atomic::AtomicUsize,
    );

    impl Fixed {
        fn new(result: Result<Authenticated, AuthnError>) -> Arc<Self> {
            Arc::new(Fixed(result, Default::default()))
        }
        fn calls(&self) -> usize {
            self.1.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl<C: ?Sized + Sync> Authenticator<C> for Fixed {
        fn authenticate<'a>(&'a self, _: &'a C, _: &'a RequestContext) -> AuthnFuture<'a> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let result = self.0.clone();
            Box::pin(async move { result })
        }
    }

    fn ok(name: &str) -> Result<Authenticated, AuthnError> {
        Ok(Authenticated::new(UserInfo::new(name)))
    }

    const PASSWORD: &str = "s3cret-password-never-logged";

    fn audited(
        result: Result<Authenticated, AuthnError>,
    ) -> (Audited<Arc<Fixed>>, Arc<MemorySink>) {
        let sink = Arc::new(MemorySink::new());
        let clock = Arc::new(ManualClock::at_unix(1_795_779_657));
        (
            Audited::new(Fixed::new(result), "local", sink.clone(), clock),
            sink,
        )
    }

    #[test]
    fn audited_records_failures_with_the_claimed_user_and_no_secret() {
        let (authenticator, sink) = audited(Err(AuthnError::InvalidCredentials));
        let credential = PasswordCredential::new("mallory", SecretString::from(PASSWORD));
        let context = RequestContext::new().with_source_ip("192.0.2.1".parse().unwrap());
        let result = block_on(authenticator.authenticate(&credential, &context));
        assert_eq!(result, Err(AuthnError::InvalidCredentials));
        let events = sink.events();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.action, Action::AuthnAttempt);
        assert_eq!(event.outcome, Outcome::Failure);
        assert_eq!(event.actor.username, "mallory");
        assert_eq!(event.reason.as_deref(), Some("invalid_credentials"));
        assert_eq!(event.source.source_ip(), context.source_ip());
        assert_eq!(event.details["credential"], "password");
        assert_eq!(event.time.to_string(), "2026-11-27T11:40:57.000000Z");
        let json = serde_json::to_string(event).unwrap();
        assert!(!json.contains(PASSWORD), "{json}");
        assert!(!format!("{event:?}").contains(PASSWORD));
    }

    #[test]
    fn audited_records_success_with_the_established_identity() {
        let (authenticator, sink) = audited(ok("system:serviceaccount:ns:sa"));
        let token = BearerToken::new(SecretString::from(PASSWORD));
        let result = block_on(authenticator.authenticate(&token, &RequestContext::new()));
        assert_eq!(result.unwrap().user.username, "system:serviceaccount:ns:sa");
        let event = &sink.events()[0];
        assert_eq!(event.outcome, Outcome::Success);
        assert_eq!(event.actor.username, "system:serviceaccount:ns:sa");
        assert_eq!(event.reason, None);
        assert!(!serde_json::to_string(event).unwrap().contains(PASSWORD));
    }

    #[test]
    fn audited_fails_closed_when_the_sink_refuses_a_success() {
        let (authenticator, sink) = audited(ok("alice"));
        sink.set_failing(true);
        let token = BearerToken::new(SecretString::from(PASSWORD));
        let result = block_on(authenticator.authenticate(&token, &RequestContext::new()));
        assert_eq!(result, Err(AuthnError::unavailable("audit")));
        let (failing, sink) = audited(Err(AuthnError::Expired));
        sink.set_failing(true);
        let result = block_on(failing.authenticate(&token, &RequestContext::new()));
        assert_eq!(result, Err(AuthnError::Expired));
    }

    #[test]
    fn union_skips_not_applicable_and_stops_at_a_decision() {
        let skip = Fixed::new(Err(AuthnError::NotApplicable));
        let reject = Fixed::new(Err(AuthnError::Expired));
        let accept = Fixed::new(ok("bob"));
        let token = BearerToken::new(SecretString::from("t"));
        let context = RequestContext::new();

        let union: UnionAuthenticator<BearerToken> =
            UnionAuthenticator::new(vec![skip.clone(), reject.clone(), accept.clone()]);
        assert_eq!(
            block_on(union.authenticate(&token, &context)),
            Err(AuthnError::Expired)
        );
        assert_eq!((skip.calls(), reject.calls(), accept.calls()), (1, 1, 0));

        let union: UnionAuthenticator<BearerToken> =
            UnionAuthenticator::new(vec![skip.clone(), accept.clone()]);
        assert_eq!(
            block_on(union.authenticate(&token, &context))
                .unwrap()
                .user
                .username,
            "bob"
        );

        let nobody: UnionAuthenticator<BearerToken> = UnionAuthenticator::new(vec![skip.clone()]);
        assert_eq!(
            block_on(nobody.authenticate(&token, &context)),
            Err(AuthnError::InvalidCredentials)
        );
        let empty: UnionAuthenticator<BearerToken> = UnionAuthenticator::new(vec![]);
        assert_eq!(
            block_on(empty.authenticate(&token, &context)),
            Err(AuthnError::InvalidCredentials)
        );
    }

    #[test]
    fn only_invalid_credentials_count_towards_lockout() {
        assert!(AuthnError::InvalidCredentials.counts_as_failed_attempt());
        for error in [
            AuthnError::Expired,
            AuthnError::Locked { retry_after: None },
            AuthnError::NotApplicable,
            AuthnError::Overloaded,
            AuthnError::unavailable("idp"),
            AuthnError::malformed("token header"),
            AuthnError::internal("bug"),
        ] {
            assert!(!error.counts_as_failed_attempt(), "{error}");
        }
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send_behind_dyn() {
        let shared: Arc<dyn Authenticator<BearerToken>> = Fixed::new(ok("x"));
        let token = BearerToken::new(SecretString::from("t"));
        let context = RequestContext::new();
        let future = shared.authenticate(&token, &context);
        assert_send(&future);
        assert!(block_on(future).is_ok());
    }
}
