//! Test certificates made with the `openssl` command line: a CA, a broker certificate for
//! `127.0.0.1`/`localhost` (PEM key store `broker-keystore.pem`, PKCS12 `broker.p12` with
//! password `store-secret`), a client certificate `alice` (`User:CN=alice,OU=test`) signed by the
//! CA and a self-signed `mallory` nobody trusts. TLS, SASL_SSL and ACL tests (issue 14) share it.

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

/// Runs `openssl` with `args` in `dir`; panics with its output on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a broker certificate and key, client certificates: all in one temp dir.
#[derive(Debug)]
pub struct Pki {
    dir: TempDir,
}

impl Pki {
    /// Makes every certificate and store in a fresh temp dir.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        Pki::self_signed(d, "ca", "/CN=minikafka-test-ca");
        std::fs::write(
            d.join("broker.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext");
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("write ext");
        Pki::signed(d, "broker", "/CN=localhost", "broker.ext");
        Pki::signed(d, "alice", "/OU=test/CN=alice", "client.ext");
        // A client certificate nobody trusts.
        Pki::self_signed(d, "mallory", "/CN=mallory");
        // The broker's PEM key store: chain then key, one file.
        let mut keystore = std::fs::read(d.join("broker.pem")).expect("broker.pem");
        keystore.extend(std::fs::read(d.join("broker.key")).expect("broker.key"));
        std::fs::write(d.join("broker-keystore.pem"), keystore).expect("write key store");
        openssl(
            d,
            &[
                "pkcs12",
                "-export",
                "-in",
                "broker.pem",
                "-inkey",
                "broker.key",
                "-certfile",
                "ca.pem",
                "-out",
                "broker.p12",
                "-passout",
                "pass:store-secret",
                "-name",
                "broker",
            ],
        );
        Pki { dir }
    }

    /// `<name>.key` and a self-signed `<name>.pem` (a CA certificate).
    pub fn self_signed(d: &Path, name: &str, subject: &str) {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        let args = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem,
            "-days", "2", "-subj", subject,
        ];
        openssl(d, &args);
    }

    /// `<name>.key` and `<name>.pem`, signed by the CA with the extensions of `ext`.
    pub fn signed(d: &Path, name: &str, subject: &str, ext: &str) {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        openssl(
            d,
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
                subject,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    }

    /// The path of `file` in the PKI's directory.
    pub fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }
}
