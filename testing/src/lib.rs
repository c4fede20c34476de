//! Test support for the rampart workspace, never a dependency of a library: scratch
//! directories and the `openssl` peer that many tests check against.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// A fresh, empty directory under the system temporary directory, unique to `name` and
/// this process; whatever an earlier run with the same name left there is removed.
///
/// # Panics
/// The directory cannot be created: a test cannot run without it.
#[expect(clippy::panic, reason = "a test helper fails the test")]
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rampart-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(error) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {error}", dir.display());
    }
    dir
}

/// Runs `openssl ARGS` in `dir`: the independent peer many tests check against.
///
/// # Panics
/// openssl is missing or fails; its stderr is in the message.
#[expect(clippy::panic, reason = "a test helper fails the test")]
pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    match std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)),
        Err(error) => panic!("openssl cannot run: {error}"),
    }
}

/// `openssl req` arguments for a new, unencrypted P-256 key.
const NEW_P256_KEY: [&str; 5] = [
    "-nodes",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
];

/// A 2048-bit RSA private key made by openssl (ring cannot generate RSA keys):
/// `DIR/NAME.key`, PKCS#8 PEM; returns its path.
pub fn openssl_rsa_key(dir: &std::path::Path, name: &str) -> PathBuf {
    let key = format!("{name}.key");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &key,
        ],
    );
    dir.join(key)
}

/// A P-256 CA made by openssl: `DIR/NAME.crt` and `DIR/NAME.key`, valid for two days.
pub fn openssl_ca(dir: &std::path::Path, name: &str) {
    let (key, cert, subject) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN={name}"),
    );
    let mut args = vec!["req", "-x509", "-new"];
    args.extend_from_slice(&NEW_P256_KEY);
    args.extend_from_slice(&[
        "-keyout",
        &key,
        "-subj",
        &subject,
        "-days",
        "2",
        "-out",
        &cert,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &args);
}

/// A P-256 key and CSR made by `openssl req`: `DIR/NAME.key`, `DIR/NAME.csr`;
/// `subject_args` name the subject (`-subj …` or `-config FILE`).
pub fn openssl_request(dir: &std::path::Path, name: &str, subject_args: &[&str]) {
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
    let mut args = vec!["req", "-new"];
    args.extend_from_slice(&NEW_P256_KEY);
    args.extend_from_slice(&["-keyout", &key, "-out", &csr]);
    args.extend_from_slice(subject_args);
    openssl(dir, &args);
}

/// Signs `DIR/NAME.csr` with the CA `issuer` (see [`openssl_ca`]) for one day, with the
/// extensions given in openssl's config syntax; returns the path of `DIR/NAME.crt`.
///
/// # Panics
/// The extensions file cannot be written, or openssl fails.
#[expect(clippy::panic, reason = "a test helper fails the test")]
pub fn openssl_sign(dir: &std::path::Path, name: &str, issuer: &str, extensions: &str) -> PathBuf {
    let ext = format!("{name}.ext");
    if let Err(error) = std::fs::write(dir.join(&ext), extensions) {
        panic!("cannot write {ext}: {error}");
    }
    let (csr, ca_cert, ca_key, cert) = (
        format!("{name}.csr"),
        format!("{issuer}.crt"),
        format!("{issuer}.key"),
        format!("{name}.crt"),
    );
    openssl(
        dir,
        &[
            "x509", "-req", "-in", &csr, "-CA", &ca_cert, "-CAkey", &ca_key, "-days", "1",
            "-extfile", &ext, "-out", &cert,
        ],
    );
    dir.join(cert)
}

/// A [`scratch_dir`] removed again when dropped.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// A fresh, empty directory (see [`scratch_dir`]).
    pub fn new(name: &str) -> Self {
        ScratchDir(scratch_dir(name))
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The account the store and authenticator tests start from (feature `accounts`): enabled,
/// uid `uid-NAME`, group `developers`, a well-formed argon2id hash, a password set in
/// November 2023, never logged in. Tests change the fields they are about.
#[cfg(feature = "accounts")]
pub fn account(username: &str) -> rampart_authn::Account {
    rampart_authn::Account {
        username: username.to_owned(),
        uid: format!("uid-{username}"),
        groups: vec!["developers".to_owned()],
        disabled: false,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
            .to_owned(),
        password_changed_at: std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(1_700_000_000),
        must_change: false,
        last_login: None,
    }
}
