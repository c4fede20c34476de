//! Secure removal of issued key and certificate files: contents overwritten before the
//! unlink (seen through a hard link to the same inode), symlinks removed but never
//! followed, missing files skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::scratch_dir;
use std::time::Duration;

use rampart_certs::{
    AltNames, CertificateAuthority, CertificateSubject, KeyAlgorithm, LeafRequest, Usage,
    remove_securely, write_certificates,
};

#[test]
fn removal_overwrites_unlinks_and_never_follows_symlinks() {
    let dir = scratch_dir("files-remove");
    let ca = CertificateAuthority::create_root(
        &CertificateSubject::new("files root"),
        Duration::from_secs(3600),
        KeyAlgorithm::EcdsaP256,
        rampart_core::SystemClock::shared(),
    )
    .unwrap();
    let request = LeafRequest {
        subject: CertificateSubject::new("alice"),
        alt_names: AltNames::default(),
        usage: Usage::Client,
        ttl: Duration::from_secs(600),
    };
    let (issued, key) = ca
        .issue_with_new_key(&request, KeyAlgorithm::EcdsaP256)
        .unwrap();
    let key_path = dir.join("alice.key");
    let cert_path = dir.join("alice.crt");
    key.write_pem_file(&key_path).unwrap();
    write_certificates(&cert_path, &issued.chain()).unwrap();
    let key_len = std::fs::metadata(&key_path).unwrap().len();
    // A second name for the key's inode shows what happened to its blocks.
    let witness = dir.join("witness");
    std::fs::hard_link(&key_path, &witness).unwrap();
    // A symlink to a file that must survive.
    let precious = dir.join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let link = dir.join("link.key");
    std::os::unix::fs::symlink(&precious, &link).unwrap();

    remove_securely(&[&key_path, &cert_path, &link, &dir.join("never-existed")]).unwrap();

    assert!(!key_path.exists() && !cert_path.exists());
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the symlink itself is gone"
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    let left = std::fs::read(&witness).unwrap();
    assert_eq!(left.len() as u64, key_len);
    assert!(
        left.iter().all(|b| *b == 0),
        "the key's bytes were overwritten before unlinking"
    );
}

/// The check and the overwrite are one: a path swapped between a regular file and a
/// symlink to a precious file, while `remove_securely` runs, never gets the precious
/// file overwritten (the old code checked with `symlink_metadata`, then opened by path).
#[test]
fn a_symlink_swapped_in_during_removal_is_never_followed() {
    let dir = rampart_testing::scratch_dir("certs-remove-race");
    let precious = dir.join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let target = dir.join("key.pem");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, target, precious, dir) =
            (stop.clone(), target.clone(), precious.clone(), dir.clone());
        std::thread::spawn(move || {
            let staged_link = dir.join("staged-link");
            let staged_file = dir.join("staged-file");
            let mut round = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                round += 1;
                if round.is_multiple_of(2) {
                    let _ = std::fs::remove_file(&staged_link);
                    let _ = std::os::unix::fs::symlink(&precious, &staged_link);
                    let _ = std::fs::rename(&staged_link, &target);
                } else {
                    let _ = std::fs::write(&staged_file, "secret key material");
                    let _ = std::fs::rename(&staged_file, &target);
                }
            }
        })
    };
    for _ in 0..5000 {
        let _ = remove_securely(&[&target]);
        assert_eq!(
            std::fs::read_to_string(&precious).unwrap(),
            "keep me",
            "the symlink's target was overwritten"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
