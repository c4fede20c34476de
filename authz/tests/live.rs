//! Live sync against a simulated API server on loopback: kube's real client and watchers
//! list and watch the four RBAC kinds from a small HTTP server that speaks the apiserver's
//! list and watch protocol (JSON lists with a resourceVersion; chunked watch events,
//! replayed from the requested resourceVersion).
#![cfg(feature = "kube")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use rampart_authz::{LiveRbac, NOT_SYNCED, SyncStatus};
use rampart_core::{Authorizer, Decision, UserInfo};
use serde_json::{Value, json};
use support::resource;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

const KINDS: [(&str, &str); 4] = [
    ("roles", "Role"),
    ("clusterroles", "ClusterRole"),
    ("rolebindings", "RoleBinding"),
    ("clusterrolebindings", "ClusterRoleBinding"),
];

/// The simulated apiserver's storage: objects by (plural, namespace/name), a global
/// resourceVersion, and the log of watch events for replay.
#[derive(Default)]
struct Storage {
    objects: BTreeMap<(String, String), Value>,
    version: u64,
    log: Vec<(u64, String, String)>,
}

#[derive(Clone)]
struct FakeApiServer {
    storage: Arc<Mutex<Storage>>,
    events: broadcast::Sender<(u64, String, String)>,
}

fn key_of(object: &Value) -> String {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    format!("{namespace}/{name}")
}

fn plural_of(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap();
    KINDS.iter().find(|(_, k)| *k == kind).unwrap().0.to_owned()
}

impl FakeApiServer {
    fn new() -> Self {
        FakeApiServer {
            storage: Arc::default(),
            events: broadcast::channel(1024).0,
        }
    }

    /// Stores `object` (ADDED or MODIFIED) or removes it (DELETED), logging the event.
    fn change(&self, kind: &str, mut object: Value) {
        let plural = plural_of(&object);
        let mut storage = self.storage.lock().unwrap();
        storage.version += 1;
        let version = storage.version;
        object["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let key = (plural.clone(), key_of(&object));
        if kind == "DELETED" {
            storage.objects.remove(&key);
        } else {
            storage.objects.insert(key, object.clone());
        }
        let line = format!("{}\n", json!({"type": kind, "object": object}));
        storage.log.push((version, plural.clone(), line.clone()));
        let _ = self.events.send((version, plural, line));
    }

    async fn serve(self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = self.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| server.clone().handle(request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        address
    }

    async fn handle(
        self,
        request: Request<Incoming>,
    ) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let Some(plural) = path.strip_prefix("/apis/rbac.authorization.k8s.io/v1/") else {
            return Ok(Response::builder()
                .status(404)
                .body(Full::new(Bytes::from("{}")).boxed())
                .unwrap());
        };
        let plural = plural.to_owned();
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
        };
        if param("watch").is_some_and(|w| w == "true" || w == "1") {
            let since: u64 = param("resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let (sender, receiver) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
            let (replay, mut live) = {
                let storage = self.storage.lock().unwrap();
                let replay: Vec<String> = storage
                    .log
                    .iter()
                    .filter(|(version, p, _)| *version > since && *p == plural)
                    .map(|(_, _, line)| line.clone())
                    .collect();
                (replay, self.events.subscribe())
            };
            let last_replayed = self.storage.lock().unwrap().version;
            tokio::spawn(async move {
                for line in replay {
                    if sender
                        .send(Ok(Frame::data(Bytes::from(line))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                while let Ok((version, p, line)) = live.recv().await {
                    if p == plural
                        && version > last_replayed.max(since)
                        && sender
                            .send(Ok(Frame::data(Bytes::from(line))))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            });
            let body = StreamBody::new(tokio_stream_from(receiver)).boxed();
            return Ok(Response::builder()
                .header("content-type", "application/json")
                .body(body)
                .unwrap());
        }
        let storage = self.storage.lock().unwrap();
        let kind = KINDS
            .iter()
            .find(|(p, _)| *p == plural)
            .map_or("Unknown", |(_, k)| *k);
        let items: Vec<Value> = storage
            .objects
            .iter()
            .filter(|((p, _), _)| *p == plural)
            .map(|(_, o)| o.clone())
            .collect();
        let list = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": format!("{kind}List"),
            "metadata": {"resourceVersion": storage.version.to_string()},
            "items": items,
        });
        Ok(Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(list.to_string())).boxed())
            .unwrap())
    }
}

/// An mpsc receiver as a stream, without pulling in tokio-stream.
fn tokio_stream_from<T: Send + 'static>(
    receiver: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

fn cluster_role(name: &str, verbs: &[&str]) -> Value {
    json!({"kind": "ClusterRole", "metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]})
}

fn cluster_binding(name: &str, role: &str, user: &str) -> Value {
    json!({"kind": "ClusterRoleBinding", "metadata": {"name": name},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
}

/// Waits for the next status change, failing the test if none comes within a generous bound.
async fn next_swap(status: &mut tokio::sync::watch::Receiver<SyncStatus>) -> SyncStatus {
    tokio::time::timeout(Duration::from_secs(30), status.changed())
        .await
        .expect("a sync status change within 30 s")
        .unwrap();
    *status.borrow_and_update()
}

fn allowed(live: &LiveRbac, user: &str, verb: &str, resource_name: &str, namespace: &str) -> bool {
    live.authorize(
        &UserInfo::new(user),
        &resource(verb, "", resource_name, "", namespace, ""),
    )
    .is_allowed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_list_and_watch_and_swaps_atomically() {
    let server = FakeApiServer::new();
    server.change("ADDED", cluster_role("reader", &["get", "list"]));
    server.change("ADDED", cluster_binding("alice-reads", "reader", "alice"));
    server.change(
        "ADDED",
        json!({"kind": "Role", "metadata": {"name": "secrets", "namespace": "ns1"},
               "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}),
    );
    server.change(
        "ADDED",
        json!({"kind": "RoleBinding", "metadata": {"name": "bob-secrets", "namespace": "ns1"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secrets"},
               "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]}),
    );
    let address = server.clone().serve().await;

    let live = LiveRbac::new();
    // Before the first complete list: no opinion, so the caller denies.
    assert_eq!(
        live.authorize(
            &UserInfo::new("alice"),
            &resource("get", "", "pods", "", "ns1", "")
        ),
        Decision::NoOpinion(NOT_SYNCED.to_owned())
    );
    let mut generations = live.subscribe();
    let client = kube::Client::try_from(kube::Config::new(address.parse().unwrap())).unwrap();
    tokio::spawn(live.clone().sync(client));
    next_swap(&mut generations).await;
    assert!(live.is_synced());
    assert!(allowed(&live, "alice", "get", "pods", "ns1"));
    assert!(allowed(&live, "bob", "list", "secrets", "ns1"));
    assert!(!allowed(&live, "bob", "list", "secrets", "ns2"));
    assert!(!allowed(&live, "carol", "get", "pods", "ns1"));

    // Readers hammer the authorizer while the policy changes under them; every answer
    // must come from one complete policy (alice keeps get+list or list only, never none).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (live, stop) = (live.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut decisions = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert!(
                        allowed(&live, "alice", "list", "pods", "ns1"),
                        "alice lost list during a swap"
                    );
                    decisions += 1;
                }
                decisions
            })
        })
        .collect();

    server.change("ADDED", cluster_binding("carol-reads", "reader", "carol"));
    while !allowed(&live, "carol", "get", "pods", "ns1") {
        next_swap(&mut generations).await;
    }
    server.change(
        "DELETED",
        json!({"kind": "RoleBinding", "metadata": {"name": "bob-secrets", "namespace": "ns1"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secrets"}}),
    );
    while allowed(&live, "bob", "list", "secrets", "ns1") {
        next_swap(&mut generations).await;
    }
    server.change("MODIFIED", cluster_role("reader", &["list"]));
    while allowed(&live, "alice", "get", "pods", "ns1") {
        next_swap(&mut generations).await;
    }
    assert!(allowed(&live, "alice", "list", "pods", "ns1"));

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert_eq!(live.status().watch_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_never_yields_an_answer() {
    // Nothing listens on this port: the watchers retry, and the authorizer stays unsynced.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let live = LiveRbac::new();
    let client = kube::Client::try_from(kube::Config::new(address.parse().unwrap())).unwrap();
    let mut status = live.subscribe();
    let task = tokio::spawn(live.clone().sync(client));
    let seen = next_swap(&mut status).await;
    assert!(seen.watch_errors > 0 && seen.generation == 0, "{seen:?}");
    assert!(!live.is_synced());
    assert!(!allowed(&live, "alice", "get", "pods", "ns1"));
    task.abort();
}
