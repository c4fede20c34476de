//! Local-password hot paths: argon2id verification at the default parameters (OWASP's
//! m = 19 MiB, t = 2, p = 1), the unknown-user path (dummy verify) beside the
//! wrong-password path, the blocklist lookup, a whole policy check, and a flood of
//! concurrent logins against the hashing semaphore.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rampart_authn::{Account, AccountStore, LocalAuthenticator, MemoryStore, PasswordHasher, PasswordPolicy};
use rampart_authn::password::{Blocklist, HashMemory, HashParams, PasswordContext, StoredLimits};
use rampart_core::{Authenticator, PasswordCredential, RequestContext, SecretString, SystemClock};

fn verify(c: &mut Criterion) {
    let hasher = PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default()).unwrap();
    let right = SecretString::from("correct horse battery staple");
    let wrong = SecretString::from("incorrect horse battery staple");
    let stored = hasher.hash(&right).unwrap();
    // The authenticator's path: one working memory per hashing thread, reused.
    let mut memory = HashMemory::new();
    let mut group = c.benchmark_group("authn/verify_default_params");
    group.sample_size(30).measurement_time(Duration::from_secs(10));
    group.bench_function("right_password", |b| b.iter(|| black_box(hasher.verify_with(&right, &stored, &mut memory).unwrap())));
    group.bench_function("wrong_password", |b| b.iter(|| black_box(hasher.verify_with(&wrong, &stored, &mut memory).unwrap())));
    group.bench_function("unknown_user_dummy", |b| b.iter(|| black_box(hasher.verify_dummy_with(&wrong, &mut memory))));
    // A one-off call allocates its own memory.
    group.bench_function("wrong_password_fresh_memory", |b| b.iter(|| black_box(hasher.verify(&wrong, &stored).unwrap())));
    group.finish();
}

fn blocklist(c: &mut Criterion) {
    let list = Blocklist::builtin();
    let mut group = c.benchmark_group("authn/blocklist");
    group.bench_function("hit", |b| b.iter(|| black_box(list.contains(black_box("trustno1")))));
    group.bench_function("miss", |b| b.iter(|| black_box(list.contains(black_box("purple tuesday lighthouse")))));
    group.finish();
    let policy = PasswordPolicy::builder().service_name("rampart").build().unwrap();
    let candidate = SecretString::from("purple tuesday lighthouse marmalade");
    c.bench_function("authn/policy_check_accepted", |b| {
        b.iter(|| black_box(policy.check(&candidate, &PasswordContext::for_user("alice")).is_ok()))
    });
}

/// 1,000 concurrent logins against 2 permits (all admitted to the queue): throughput, and
/// the peak number of argon2id computations running at once, which bounds memory at
/// m × permits. VmHWM (peak RSS of the process) is printed beside it.
fn flood(c: &mut Criterion) {
    const LOGINS: usize = 1_000;
    const PERMITS: usize = 2;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hasher = PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default()).unwrap();
    let store = MemoryStore::new();
    let account = Account {
        username: "alice".into(),
        uid: "uid-alice".into(),
        groups: vec!["developers".into()],
        disabled: false,
        password_hash: hasher.hash(&SecretString::from("correct horse battery staple")).unwrap(),
        password_changed_at: SystemTime::UNIX_EPOCH,
        must_change: false,
        last_login: None,
    };
    runtime.block_on(store.insert(account)).unwrap();
    let before = peak_rss();
    let auth = Arc::new(LocalAuthenticator::new(store, hasher, PERMITS, LOGINS, Arc::new(SystemClock)));
    let mut group = c.benchmark_group("authn/flood");
    // One flood takes seconds: flat sampling, ten floods.
    group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(75)).throughput(Throughput::Elements(LOGINS as u64));
    group.bench_function("1000_concurrent_logins_2_permits", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tasks: Vec<_> = (0..LOGINS)
                    .map(|n| {
                        let auth = Arc::clone(&auth);
                        tokio::spawn(async move {
                            let password = if n % 2 == 0 { "correct horse battery staple" } else { "wrong horse" };
                            let credential = PasswordCredential::new("alice", SecretString::from(password));
                            auth.authenticate(&credential, &RequestContext::new()).await.is_ok()
                        })
                    })
                    .collect();
                for task in tasks {
                    black_box(task.await.unwrap());
                }
            })
        })
    });
    group.finish();
    let stats = auth.stats();
    println!(
        "flood: peak concurrent argon2id = {} (permits {PERMITS}), overloaded = {}, verifications = {}, bound m × permits = {} MiB, before the flood {before}, after {}",
        stats.peak_running(),
        stats.overloaded(),
        stats.verifications(),
        HashParams::DEFAULT.m_kib() as usize * PERMITS / 1024,
        peak_rss()
    );
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with("VmHWM")).map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ")))
        .unwrap_or_else(|| "VmHWM unavailable".into())
}

criterion_group!(authn, verify, blocklist, flood, id_tokens, saml);
criterion_main!(authn);

/// ID-token verification beside the raw ring verification of the same token's signature
/// (the goal: ≤ 1.15× the raw cost, JWKS already in memory).
fn id_tokens(c: &mut Criterion) {
    use rampart_authn::IdTokenPolicy;
use rampart_authn::oidc::{Algorithm, JwkSet};
    use ring::signature::{ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../authn/tests/fixtures/oidc");
    let tokens: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/tokens.json")).unwrap()).unwrap();
    let jwks_text = std::fs::read_to_string(format!("{dir}/jwks.json")).unwrap();
    let jwks_json: serde_json::Value = serde_json::from_str(&jwks_text).unwrap();
    let keys = JwkSet::from_json(&jwks_text).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(tokens["now"].as_u64().unwrap());
    let token = |name: &str| tokens["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["token"].as_str().unwrap().to_owned();
    let jwk = |kid: &str| jwks_json["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone();
    let b64 = |text: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
    };
    let policy = IdTokenPolicy::new(tokens["issuer"].as_str().unwrap(), tokens["client_id"].as_str().unwrap()).algorithms([Algorithm::RS256, Algorithm::ES256]);
    let mut group = c.benchmark_group("authn/id_token");
    for (name, kid) in [("es256", "es-1"), ("rs256", "rs-1")] {
        let token = token(name);
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = b64(signature);
        let key = jwk(kid);
        if name == "es256" {
            let point = [&[4u8][..], &b64(key["x"].as_str().unwrap()), &b64(key["y"].as_str().unwrap())].concat();
            let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
            group.bench_function("es256_raw_ring_verify", |b| b.iter(|| public.verify(black_box(signed.as_bytes()), &signature).unwrap()));
        } else {
            let (n, e) = (b64(key["n"].as_str().unwrap()), b64(key["e"].as_str().unwrap()));
            let public = RsaPublicKeyComponents { n: &n, e: &e };
            group.bench_function("rs256_raw_ring_verify", |b| b.iter(|| public.verify(&RSA_PKCS1_2048_8192_SHA256, black_box(signed.as_bytes()), &signature).unwrap()));
        }
        group.bench_function(format!("{name}_id_token_verify"), |b| {
            b.iter(|| black_box(policy.verify(black_box(&token), &keys, now, None, None).unwrap()))
        });
    }
    // Minting: the issuer's whole path (claims, jsonwebtoken over rampart's ring provider)
    // beside ring's raw ES256 signature over a token-sized message.
    let issuer = rampart_authn::TokenIssuer::new(
        "https://login.example.test",
        rampart_authn::IssuerKey::generate(Algorithm::ES256).unwrap(),
        Duration::from_secs(600),
        SystemClock::shared(),
    )
    .unwrap();
    let user = rampart_core::UserInfo::new("alice").with_groups(["dev", "ops"]).with_uid("u-1");
    group.bench_function("es256_mint", |b| b.iter(|| black_box(issuer.mint(&user, "kubernetes", Duration::from_secs(300), None).unwrap())));
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let message = vec![b'a'; 400];
    group.bench_function("es256_raw_ring_sign", |b| b.iter(|| black_box(pair.sign(&rng, black_box(&message)).unwrap())));
    group.finish();
}

/// SAML responses (pysaml2-made, RSA-2048, response-level signature) through the whole
/// service provider, beside samael/xmlsec's signature verification and reduction of the
/// same document (the step the SP cannot avoid). Each iteration gets a fresh SP so the
/// replay cache and the pending request never refuse; their cost is in the measurement.
fn saml(c: &mut Criterion) {
    use criterion::BatchSize;
    use rampart_authn::ServiceProvider;
use rampart_authn::saml::{IdpMetadata, SpKey};
    use rampart_core::{FixedClock, Timestamp};
    use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../authn/tests/fixtures/saml");
    let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&read("manifest.json")).unwrap();
    let now = manifest["made"].as_str().unwrap().parse::<Timestamp>().unwrap().to_system_time() + Duration::from_secs(5);
    let idp = IdpMetadata::parse(&read("idp-metadata.xml")).unwrap();
    let key = SpKey::from_pem(read("sp.key").as_bytes()).unwrap();
    let fresh_sp = || {
        let sp = ServiceProvider::new(manifest["sp"].as_str().unwrap(), manifest["acs"].as_str().unwrap(), idp.clone(), Arc::new(FixedClock(now)))
            .unwrap()
            .with_key(key.clone(), false);
        sp.expect_request(manifest["request"].as_str().unwrap(), now + Duration::from_secs(600)).unwrap();
        sp
    };
    let certs: Vec<CertificateDer> = idp.signing_certificates().iter().map(|der| CertificateDer::from(der.clone())).collect();
    let mut group = c.benchmark_group("authn/saml");
    group.throughput(Throughput::Elements(1));
    for name in ["response-signed", "encrypted-aes128gcm-signed-response"] {
        let encoded = read(&format!("{name}.b64")).trim().to_owned();
        use base64::Engine as _;
        let xml = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&encoded).unwrap()).unwrap();
        group.bench_function(format!("{name}/xmlsec_verify_and_reduce"), |b| {
            b.iter(|| {
                black_box(
                    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
                        black_box(&xml),
                        &certs,
                        ReduceMode::ValidateAndMarkNoAncestors,
                        Some(&[AllowedSignatureAlgorithm::RsaSha256]),
                    )
                    .unwrap(),
                )
            })
        });
        group.bench_function(format!("{name}/sp_consume"), |b| {
            b.iter_batched(fresh_sp, |sp| black_box(sp.consume(black_box(&encoded)).unwrap()), BatchSize::SmallInput)
        });
    }
    group.finish();
}
