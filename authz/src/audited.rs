//! The audited authorizer (AU-2, AU-12): every decision of its inner authorizer becomes an
//! `authz.decision` event, and a permission whose event cannot be recorded is denied
//! (AU-5, fail closed: a deny, not "no opinion", so that no later authorizer in a union
//! grants it unaudited).

use std::fmt;

use rampart_core::{
    Action, Attributes, AuditEvent, AuditResult, Authorizer, Decision, Outcome, RequestContext,
    SharedAuditSink, SharedClock, Target, UserInfo,
};

/// Records every decision of `inner` through an [`AuditSink`](rampart_core::AuditSink).
///
/// Async code calls [`decide`](AuditedAuthorizer::decide), which awaits the sink without
/// blocking its worker; the [`Authorizer`] implementation is the blocking form, for threads.
pub struct AuditedAuthorizer<A> {
    inner: A,
    sink: SharedAuditSink,
    clock: SharedClock,
}

impl<A> fmt::Debug for AuditedAuthorizer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditedAuthorizer").finish_non_exhaustive()
    }
}

/// Why an allowed request was refused after all.
pub const AUDIT_UNAVAILABLE: &str = "the decision could not be audited";

impl<A: Authorizer> AuditedAuthorizer<A> {
    /// Audits `inner`'s decisions in `sink`, timed by `clock`.
    pub fn new(inner: A, sink: SharedAuditSink, clock: SharedClock) -> Self {
        AuditedAuthorizer { inner, sink, clock }
    }

    /// Decides `request` for `user`, presented in `context`, and awaits its event.
    pub async fn decide(
        &self,
        user: &UserInfo,
        request: &Attributes,
        context: &RequestContext,
    ) -> Decision {
        let decision = self.inner.authorize(user, request);
        let recorded = self
            .sink
            .submit(self.event(user, request, &decision, context))
            .await;
        fail_closed(decision, recorded)
    }

    fn event(
        &self,
        user: &UserInfo,
        request: &Attributes,
        decision: &Decision,
        context: &RequestContext,
    ) -> AuditEvent {
        let outcome = if decision.is_allowed() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let (kind, reason) = match decision {
            Decision::Allow(reason) => ("allow", reason),
            Decision::Deny(reason) => ("deny", reason),
            Decision::NoOpinion(reason) => ("no_opinion", reason),
        };
        let event = AuditEvent::new(Action::AuthzDecision, outcome, self.clock.now())
            .with_actor(user.clone())
            .with_source(context.clone())
            .with_target(target(request))
            .with_reason(kind)
            .with_detail("verb", verb(request))
            .with_detail("decision_reason", reason.as_str());
        match request {
            Attributes::Resource(resource) if !resource.subresource.is_empty() => {
                event.with_detail("subresource", resource.subresource.as_str())
            }
            _ => event,
        }
    }
}

impl<A: Authorizer> Authorizer for AuditedAuthorizer<A> {
    /// The blocking form: waits on this thread for the event to be recorded.
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        let decision = self.inner.authorize(user, request);
        let recorded =
            self.sink
                .record(self.event(user, request, &decision, &RequestContext::new()));
        fail_closed(decision, recorded)
    }
}

/// A decision whose event was not recorded becomes a deny: nothing is granted unaudited,
/// and a deny (unlike no opinion) stops a union, so no later authorizer grants it either.
fn fail_closed(decision: Decision, recorded: AuditResult) -> Decision {
    match (decision, recorded) {
        (decision, Ok(())) | (decision @ Decision::Deny(_), Err(_)) => decision,
        (_, Err(_)) => Decision::Deny(AUDIT_UNAVAILABLE.to_owned()),
    }
}

/// What the request is about: the resource (`group/resource`), or the non-resource path.
fn target(request: &Attributes) -> Target {
    match request {
        Attributes::Resource(resource) => {
            let kind = if resource.group.is_empty() {
                resource.resource.clone()
            } else {
                format!("{}/{}", resource.group, resource.resource)
            };
            let target = Target::new(kind, resource.name.as_str());
            if resource.namespace.is_empty() {
                target
            } else {
                target.in_namespace(resource.namespace.as_str())
            }
        }
        Attributes::NonResource(path) => Target::new("nonResourceURL", path.path.as_str()),
    }
}

fn verb(request: &Attributes) -> &str {
    match request {
        Attributes::Resource(resource) => &resource.verb,
        Attributes::NonResource(path) => &path.verb,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use std::sync::Arc;

    use super::*;
    use rampart_core::{ManualClock, MemorySink, ResourceAttributes};

    #[derive(Debug)]
    struct Fixed(Decision);

    impl Authorizer for Fixed {
        fn authorize(&self, _: &UserInfo, _: &Attributes) -> Decision {
            self.0.clone()
        }
    }

    fn delete_pod() -> Attributes {
        Attributes::Resource(ResourceAttributes {
            namespace: "team-a".into(),
            verb: "delete".into(),
            resource: "pods".into(),
            subresource: "exec".into(),
            name: "web-1".into(),
            ..ResourceAttributes::default()
        })
    }

    #[test]
    fn every_decision_is_recorded_with_who_what_and_why() {
        let sink = Arc::new(MemorySink::new());
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        for (decision, outcome, kind) in [
            (
                Decision::Allow("rb/admins".into()),
                Outcome::Success,
                "allow",
            ),
            (Decision::Deny("denied".into()), Outcome::Failure, "deny"),
            (
                Decision::NoOpinion(String::new()),
                Outcome::Failure,
                "no_opinion",
            ),
        ] {
            let audited =
                AuditedAuthorizer::new(Fixed(decision.clone()), sink.clone(), clock.clone());
            let context = RequestContext::new().with_source_ip("10.0.0.7".parse().unwrap());
            let got = futures_executor::block_on(audited.decide(
                &UserInfo::new("alice"),
                &delete_pod(),
                &context,
            ));
            assert_eq!(got, decision);
            let event = sink.events().pop().unwrap();
            assert_eq!(event.action, Action::AuthzDecision);
            assert_eq!(event.outcome, outcome);
            assert_eq!(event.actor.username, "alice");
            assert_eq!(event.source, context);
            assert_eq!(
                event.target,
                Some(Target::new("pods", "web-1").in_namespace("team-a"))
            );
            assert_eq!(event.reason.as_deref(), Some(kind));
            assert_eq!(event.details["verb"], "delete");
            assert_eq!(event.details["subresource"], "exec");
        }
    }

    #[test]
    fn an_allow_that_cannot_be_audited_is_not_granted() {
        let sink = Arc::new(MemorySink::new());
        sink.set_failing(true);
        let audited = AuditedAuthorizer::new(
            Fixed(Decision::Allow("rb/admins".into())),
            sink.clone(),
            Arc::new(ManualClock::at_unix(1_800_000_000)),
        );
        let user = UserInfo::new("alice");
        assert_eq!(
            futures_executor::block_on(audited.decide(
                &user,
                &delete_pod(),
                &RequestContext::new()
            )),
            Decision::Deny(AUDIT_UNAVAILABLE.into())
        );
        assert!(!audited.authorize(&user, &delete_pod()).is_allowed());
        // In a union, a later authorizer that would allow is never asked.
        let union = rampart_core::UnionAuthorizer::new(vec![
            Arc::new(audited) as Arc<dyn Authorizer>,
            Arc::new(Fixed(Decision::Allow("unaudited".into()))),
        ]);
        assert!(!union.authorize(&user, &delete_pod()).is_allowed());
        let denying = AuditedAuthorizer::new(
            Fixed(Decision::Deny("no".into())),
            sink,
            Arc::new(ManualClock::at_unix(1_800_000_000)),
        );
        assert_eq!(
            denying.authorize(&user, &delete_pod()),
            Decision::Deny("no".into())
        );
    }
}
