//! Certificate issuance beside the raw ring ECDSA P-256 signature it contains (the issue's
//! goal: issuance at ≥ 70 % of the raw signing rate), and CSR verification beside the raw
//! ring verification it contains.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_certs::{
    AltNames, CertificateAuthority, KeyAlgorithm, LeafRequest, PrivateKey, CertificateSubject, Usage, verify_csr,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey};

fn issuance(c: &mut Criterion) {
    let ca = CertificateAuthority::create_root(&CertificateSubject::new("bench root"), Duration::from_secs(86_400), KeyAlgorithm::EcdsaP256, rampart_core::SystemClock::shared()).unwrap();
    let request = LeafRequest {
        subject: CertificateSubject::new("alice").with_organizations(["dev", "ops"]),
        alt_names: AltNames { dns: vec!["alice.example.test".into()], ..AltNames::default() },
        usage: Usage::Client,
        ttl: Duration::from_secs(3600),
    };
    let leaf_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let public_key = leaf_key.public_key_info().unwrap();
    // The raw signature over a message the size of this certificate's TBS.
    let tbs_len = ca.issue(&request, public_key.clone()).unwrap().leaf.as_ref().len() - 80;
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let raw = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let message = vec![0x5a; tbs_len];

    let mut group = c.benchmark_group("certs/issue");
    group.bench_function("raw_ring_p256_sign", |b| b.iter(|| black_box(raw.sign(&rng, black_box(&message)).unwrap())));
    group.bench_function("issue_p256_leaf_for_a_public_key", |b| {
        b.iter(|| black_box(ca.issue(&request, public_key.clone()).unwrap()))
    });
    group.bench_function("issue_p256_leaf_with_new_key", |b| {
        b.iter(|| black_box(ca.issue_with_new_key(&request, KeyAlgorithm::EcdsaP256).unwrap()))
    });
    group.finish();
}

fn csr(c: &mut Criterion) {
    let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/csr/ec.pem")).unwrap();
    let der = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/csr/ec.der")).unwrap();
    // The raw verification: ring over a message and signature of the same sizes.
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let message = vec![0x5a; der.len() - 90];
    let signature = pair.sign(&rng, &message).unwrap();
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref().to_vec());

    let mut group = c.benchmark_group("certs/csr");
    group.bench_function("raw_ring_p256_verify", |b| b.iter(|| public.verify(black_box(&message), signature.as_ref()).unwrap()));
    group.bench_function("verify_csr_p256_der", |b| b.iter(|| black_box(verify_csr(black_box(&der)).unwrap())));
    group.bench_function("verify_csr_p256_pem", |b| b.iter(|| black_box(verify_csr(black_box(&pem)).unwrap())));
    group.finish();
}

criterion_group!(certs, issuance, csr);
criterion_main!(certs);
