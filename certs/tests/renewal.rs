//! Renewal with a manual clock under a live mutual-TLS server: connections opened before
//! and after the swap both work, new handshakes see the new certificate, failures retry
//! with backoff, and every step is audited.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rampart_certs::{
    AltNames, CertError, CertSlot, CertificateAuthority, CertificateSubject, KeyAlgorithm,
    LeafRequest, LocalCa, Polled, Reissue, ReissueFuture, RenewalPolicy, Renewer, Usage,
    certified_key, mtls_client_config, mtls_server_config,
};
use rampart_core::{Action, Clock, ManualClock, MemorySink, Outcome, SharedAuditSink};
use rustls::pki_types::{CertificateDer, ServerName};

const HOUR: Duration = Duration::from_secs(3600);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn request(cn: &str, usage: Usage, ttl: Duration) -> LeafRequest {
    LeafRequest {
        subject: CertificateSubject::new(cn),
        alt_names: AltNames {
            dns: vec!["localhost".into()],
            ips: vec![IpAddr::from([127, 0, 0, 1])],
            ..AltNames::default()
        },
        usage,
        ttl,
    }
}

/// A root CA dated by a manual clock: (the clock, the same clock as `dyn Clock`, the CA).
fn manual_ca(
    name: &str,
    ttl: Duration,
) -> (Arc<ManualClock>, Arc<dyn Clock>, Arc<CertificateAuthority>) {
    let clock = Arc::new(ManualClock::new(rampart_core::SystemClock::shared().now()));
    let shared_clock: Arc<dyn Clock> = clock.clone();
    let ca = CertificateAuthority::create_root(
        &CertificateSubject::new(name),
        ttl,
        KeyAlgorithm::EcdsaP256,
        Arc::clone(&shared_clock),
    )
    .unwrap();
    (clock, shared_clock, Arc::new(ca))
}

/// An echo server: each connection gets its own thread; each line is echoed back.
fn serve(config: Arc<rustls::ServerConfig>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, tcp);
                let mut line = String::new();
                loop {
                    line.clear();
                    let mut reader = BufReader::new(&mut tls);
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if tls
                        .write_all(line.as_bytes())
                        .and_then(|()| tls.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    address
}

struct Client {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Client {
    fn connect(config: &Arc<rustls::ClientConfig>, address: std::net::SocketAddr) -> Client {
        let tcp = TcpStream::connect(address).unwrap();
        let connection = rustls::ClientConnection::new(
            Arc::clone(config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        Client {
            tls: rustls::StreamOwned::new(connection, tcp),
        }
    }

    fn echo(&mut self, text: &str) -> String {
        self.tls.write_all(format!("{text}\n").as_bytes()).unwrap();
        self.tls.flush().unwrap();
        let mut line = String::new();
        BufReader::new(&mut self.tls).read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    fn server_leaf(&self) -> CertificateDer<'static> {
        self.tls.conn.peer_certificates().unwrap()[0]
            .clone()
            .into_owned()
    }
}

#[test]
fn a_renewal_under_a_live_server_keeps_old_connections_and_serves_the_new_certificate() {
    let (clock, shared_clock, ca) = manual_ca("renewal root", 48 * HOUR);
    let sink = Arc::new(MemorySink::new());
    let audit: SharedAuditSink = sink.clone();
    let source = Arc::new(LocalCa::new(
        Arc::clone(&ca),
        request("localhost", Usage::Server, HOUR),
        KeyAlgorithm::EcdsaP256,
    ));
    let runtime = runtime();
    let renewer = runtime
        .block_on(Renewer::start(
            source,
            Arc::clone(&shared_clock),
            RenewalPolicy::default(),
            Some(audit),
        ))
        .unwrap();

    let server_config = Arc::new(
        mtls_server_config(
            &[ca.root().clone()],
            renewer.slot(),
            Arc::clone(&shared_clock),
        )
        .unwrap(),
    );
    let address = serve(server_config);
    let (client_cert, client_key) = ca
        .issue_with_new_key(
            &request("alice", Usage::Client, 24 * HOUR),
            KeyAlgorithm::EcdsaP256,
        )
        .unwrap();
    let client_slot = CertSlot::new(certified_key(client_cert.chain(), &client_key).unwrap());
    let mut client_config =
        mtls_client_config(&[ca.root().clone()], client_slot, Arc::clone(&shared_clock)).unwrap();
    // Full handshakes only: a resumed session shows the certificate of the session it
    // resumes, which is exactly what resumption is for, but not what this test looks at.
    client_config.resumption = rustls::client::Resumption::disabled();
    let client_config = Arc::new(client_config);

    let mut before = Client::connect(&client_config, address);
    assert_eq!(before.echo("one"), "one");
    let first_leaf = before.server_leaf();

    // Not due yet.
    assert!(matches!(
        runtime.block_on(renewer.poll()),
        Polled::NotDue(_)
    ));
    // Past the renewal point (at most 90 % of the hour, plus the 5-minute backdate).
    let due = renewer.next_attempt();
    let first_not_after = renewer.not_after();
    clock.advance(due.duration_since(clock.now()).unwrap() + Duration::from_secs(1));
    let Polled::Renewed {
        not_after,
        next,
        audit_error,
    } = runtime.block_on(renewer.poll())
    else {
        panic!("not renewed")
    };
    assert!(audit_error.is_none());
    assert!(not_after > first_not_after && next > clock.now() && next < not_after);

    // The connection opened before the swap still works; a new one sees the new leaf.
    assert_eq!(before.echo("two"), "two");
    let mut after = Client::connect(&client_config, address);
    assert_eq!(after.echo("three"), "three");
    assert_ne!(
        after.server_leaf(),
        first_leaf,
        "the new handshake presents the renewed certificate"
    );
    assert_eq!(before.server_leaf(), first_leaf);

    let actions: Vec<(Action, Outcome)> = sink
        .events()
        .into_iter()
        .map(|e| (e.action, e.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            (Action::CertificateIssued, Outcome::Success),
            (Action::CertificateRenewed, Outcome::Success)
        ]
    );
}

/// Fails the first `failures` times, then issues from the CA.
struct Flaky {
    inner: LocalCa,
    failures: u32,
    calls: AtomicU32,
}

impl Reissue for Flaky {
    fn reissue(&self) -> ReissueFuture<'_> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        // Call 0 is the first issue at start; the next `failures` calls fail.
        if (1..=self.failures).contains(&call) {
            return Box::pin(async { Err(CertError::UnusableCa("the CA is unreachable".into())) });
        }
        self.inner.reissue()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Drives a renewer whose CA fails `failures` times, advancing the manual clock to each
/// due time. Returns the retry delays (seconds), each paired with the time then left
/// before expiry, the renewal time and the expiry of the first certificate.
fn drive_failures(
    ttl: Duration,
    failures: u32,
) -> (
    Vec<(u64, u64)>,
    std::time::SystemTime,
    std::time::SystemTime,
    usize,
) {
    let (clock, shared_clock, ca) = manual_ca("flaky root", 96 * HOUR);
    let sink = Arc::new(MemorySink::new());
    let source = Arc::new(Flaky {
        inner: LocalCa::new(
            Arc::clone(&ca),
            request("localhost", Usage::Server, ttl),
            KeyAlgorithm::Ed25519,
        ),
        failures,
        calls: AtomicU32::new(0),
    });
    let runtime = runtime();
    let renewer = runtime
        .block_on(Renewer::start(
            source,
            Arc::clone(&shared_clock),
            RenewalPolicy::default(),
            Some(sink.clone()),
        ))
        .unwrap();
    let expiry = renewer.not_after();
    let mut delays = Vec::new();
    let renewed_at = loop {
        let due = renewer.next_attempt();
        if let Ok(wait) = due.duration_since(clock.now()) {
            clock.advance(wait);
        }
        match runtime.block_on(renewer.poll()) {
            Polled::Failed { retry_at, error } => {
                assert!(error.contains("unreachable"));
                let left = expiry.duration_since(clock.now()).unwrap_or_default();
                delays.push((
                    retry_at.duration_since(clock.now()).unwrap().as_secs(),
                    left.as_secs(),
                ));
            }
            Polled::Renewed { .. } => break clock.now(),
            Polled::NotDue(_) => panic!("advanced to the due time"),
        }
    };
    let failures_audited = sink
        .events()
        .iter()
        .filter(|e| e.outcome == Outcome::Failure)
        .count();
    (delays, renewed_at, expiry, failures_audited)
}

#[test]
fn failures_retry_with_exponential_backoff() {
    // A day-long certificate: hours left at the renewal point, so only the backoff shows.
    let (delays, renewed_at, expiry, audited) = drive_failures(24 * HOUR, 14);
    let delays: Vec<u64> = delays.into_iter().map(|(delay, _)| delay).collect();
    assert_eq!(
        delays,
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300, 300]
    );
    assert!(renewed_at < expiry);
    assert_eq!(audited, 14, "every failure is audited");
}

#[test]
fn retries_tighten_as_expiry_nears_and_renewal_still_lands_in_time() {
    // An hour-long certificate renews with 6 to 18 minutes left; a CA down for 14
    // attempts: the waits shrink to fit what is left, and the CA is asked again in time.
    let (delays, renewed_at, expiry, _) = drive_failures(HOUR, 14);
    assert_eq!(delays.len(), 14);
    for (delay, left) in &delays {
        assert!(
            *delay <= (left / 2).max(1),
            "waited {delay}s with {left}s left"
        );
    }
    assert!(
        delays
            .iter()
            .any(|(delay, left)| *delay < 300 && *left < 600),
        "the cap never tightened: {delays:?}"
    );
    assert!(
        renewed_at < expiry,
        "renewed before the old certificate expired"
    );
}

#[test]
fn the_run_loop_renews_by_itself_and_stops_on_shutdown() {
    let (clock, shared_clock, ca) = manual_ca("loop root", 48 * HOUR);
    let source = Arc::new(LocalCa::new(
        Arc::clone(&ca),
        request("localhost", Usage::Server, HOUR),
        KeyAlgorithm::EcdsaP256,
    ));
    let policy = RenewalPolicy {
        check_interval: Duration::from_millis(5),
        ..RenewalPolicy::default()
    };
    let runtime = runtime();
    runtime.block_on(async {
        let renewer = Renewer::start(source, Arc::clone(&shared_clock), policy, None)
            .await
            .unwrap();
        let first = renewer.slot().current().cert[0].clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(Arc::clone(&renewer).run(async move {
            let _ = stopped.await;
        }));
        clock.advance(HOUR);
        for _ in 0..400 {
            if renewer.slot().current().cert[0] != first {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_ne!(
            renewer.slot().current().cert[0],
            first,
            "the loop did not renew"
        );
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn a_new_key_at_every_renewal_unless_one_is_kept() {
    let clock: Arc<dyn Clock> = rampart_core::SystemClock::shared();
    let ca = Arc::new(
        CertificateAuthority::create_root(
            &CertificateSubject::new("keys root"),
            48 * HOUR,
            KeyAlgorithm::EcdsaP256,
            Arc::clone(&clock),
        )
        .unwrap(),
    );
    let runtime = runtime();
    let fresh = LocalCa::new(
        Arc::clone(&ca),
        request("svc", Usage::Server, HOUR),
        KeyAlgorithm::EcdsaP256,
    );
    let (_, first) = runtime.block_on(fresh.reissue()).unwrap();
    let (_, second) = runtime.block_on(fresh.reissue()).unwrap();
    assert_ne!(
        first.public_key_info().unwrap(),
        second.public_key_info().unwrap()
    );
    let pinned_key = rampart_certs::PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let pinned_public = pinned_key.public_key_info().unwrap();
    let pinned = LocalCa::new(
        Arc::clone(&ca),
        request("svc", Usage::Server, HOUR),
        KeyAlgorithm::EcdsaP256,
    )
    .reusing_key(pinned_key);
    for _ in 0..2 {
        let (issued, key) = runtime.block_on(pinned.reissue()).unwrap();
        assert_eq!(key.public_key_info().unwrap(), pinned_public);
        assert_eq!(
            rampart_certs::summarize_certificate(issued.leaf.as_ref())
                .unwrap()
                .key,
            "Ed25519"
        );
    }
}

/// A source whose reissue takes a while, counting calls.
struct Slow {
    inner: LocalCa,
    calls: AtomicU32,
}

impl Reissue for Slow {
    fn reissue(&self) -> ReissueFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let inner = self.inner.reissue();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            inner.await
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Many tasks polling a due renewer at once issue one certificate, not one each.
#[test]
fn concurrent_polls_issue_one_certificate() {
    let (clock, shared_clock, ca) = manual_ca("in-flight root", 48 * HOUR);
    let source = Arc::new(Slow {
        inner: LocalCa::new(
            Arc::clone(&ca),
            request("localhost", Usage::Server, HOUR),
            KeyAlgorithm::EcdsaP256,
        ),
        calls: AtomicU32::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let renewer = Renewer::start(
            source.clone(),
            Arc::clone(&shared_clock),
            RenewalPolicy::default(),
            None,
        )
        .await
        .unwrap();
        clock.advance(HOUR);
        let polls: Vec<_> = (0..16)
            .map(|_| {
                let renewer = Arc::clone(&renewer);
                tokio::spawn(async move { renewer.poll().await })
            })
            .collect();
        let mut renewed = 0;
        for poll in polls {
            if matches!(poll.await.unwrap(), Polled::Renewed { .. }) {
                renewed += 1;
            }
        }
        assert_eq!(renewed, 1);
    });
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        2,
        "the first issue and one renewal"
    );
}

/// A renewal is an issuance: the signing policy judges it again, so a request it refuses
/// is never certified by renewing it; and a renewal policy with a NaN or inverted window
/// is refused at start instead of panicking later.
#[test]
fn renewals_rerun_the_signing_policy_and_bad_renewal_policies_are_refused() {
    let (_clock, shared_clock, ca) = manual_ca("policy root", 48 * HOUR);
    let admin = LeafRequest {
        subject: CertificateSubject::new("mallory").with_organizations(["system:masters"]),
        alt_names: AltNames::default(),
        usage: Usage::Client,
        ttl: HOUR,
    };
    let source = LocalCa::new(Arc::clone(&ca), admin.clone(), KeyAlgorithm::EcdsaP256);
    let runtime = runtime();
    assert!(matches!(
        runtime.block_on(source.reissue()),
        Err(CertError::Refused(_))
    ));
    let allowed = LocalCa::new(Arc::clone(&ca), admin, KeyAlgorithm::EcdsaP256)
        .with_policy(rampart_certs::SigningPolicy::default().allow_system_identities(true));
    assert!(runtime.block_on(allowed.reissue()).is_ok());
    let long = LocalCa::new(
        Arc::clone(&ca),
        request("localhost", Usage::Server, HOUR * 24 * 365),
        KeyAlgorithm::EcdsaP256,
    );
    assert!(matches!(
        runtime.block_on(long.reissue()),
        Err(CertError::Refused(_))
    ));

    for (earliest, latest) in [
        (f64::NAN, 0.9),
        (0.7, f64::NAN),
        (0.9, 0.7),
        (-0.1, 0.5),
        (0.5, 1.5),
    ] {
        let source = Arc::new(LocalCa::new(
            Arc::clone(&ca),
            request("localhost", Usage::Server, HOUR),
            KeyAlgorithm::EcdsaP256,
        ));
        let policy = RenewalPolicy {
            earliest,
            latest,
            ..RenewalPolicy::default()
        };
        let started = runtime.block_on(Renewer::start(
            source,
            Arc::clone(&shared_clock),
            policy,
            None,
        ));
        assert!(
            matches!(started, Err(CertError::Invalid(_))),
            "{earliest}..{latest}"
        );
    }
}
