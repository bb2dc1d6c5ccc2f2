//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side, as Kafka's
//! `ScramSaslServer` serves them, and the credentials the metadata log stores.
//!
//! It exists so that the exchange (client-first, server-first, client-final, server-final) and
//! the key derivations live apart from the connection: the connection hands it the client's
//! tokens and a way to find a user's stored credential, and gets back the next token or a
//! failure. The crypto is RustCrypto's (`hmac`, `sha2`, `pbkdf2`), base64 is `base64ct`
//! (constant-time), comparisons `subtle`'s. Work per exchange is bounded: two messages of at
//! most [`MAX_MESSAGE`] bytes, a few HMACs, and no PBKDF2 (the stored credential is already
//! salted; PBKDF2 runs only when a credential is made from a password, at start).

use base64ct::{Base64, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::controller::records::ScramCredential;

/// The longest SCRAM message read; longer ones fail (a real one is under 300 bytes).
pub(crate) const MAX_MESSAGE: usize = 4096;

/// Kafka's `ScramMechanism` minimum and maximum iterations (both mechanisms).
pub(crate) const MIN_ITERATIONS: i32 = 4096;
/// See [`MIN_ITERATIONS`].
pub(crate) const MAX_ITERATIONS: i32 = 16384;

/// A SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (Kafka's type 1).
    Sha256,
    /// SCRAM-SHA-512 (Kafka's type 2).
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Kafka's mechanism type in AlterUserScramCredentials and its records.
    pub fn kind(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of a Kafka type, if it is one.
    pub fn from_kind(kind: i8) -> Option<ScramMechanism> {
        match kind {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The mechanism named `name` (upper case), if it is one.
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        match self {
            ScramMechanism::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            ScramMechanism::Sha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn output_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    /// RFC 5802's SaltedPassword: PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
            }
        }
        out
    }

    /// The stored credential of a salted password (what AlterUserScramCredentials sends: the
    /// client salts, the server never sees the password).
    pub fn credential_from_salted(
        self,
        salted_password: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = self.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: self.hash(&client_key),
            server_key: self.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// The stored credential of a password with a new random salt (`--add-scram`).
    pub fn credential(self, password: &str, iterations: i32) -> ScramCredential {
        let salt: [u8; 32] = rand::random();
        let salted =
            self.salted_password(password.as_bytes(), &salt, iterations.unsigned_abs().max(1));
        self.credential_from_salted(&salted, &salt, iterations)
    }
}

/// A SCRAM user given at start (`--add-scram 'SCRAM-SHA-512=[name=alice,password=...]'`, the
/// syntax of Kafka's `kafka-storage format --add-scram`).
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapScram {
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// The user name.
    pub name: String,
    /// The password (never logged).
    pub password: String,
    /// PBKDF2 iterations (Kafka's default 4096).
    pub iterations: i32,
}

impl std::fmt::Debug for BootstrapScram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapScram")
            .field("mechanism", &self.mechanism)
            .field("name", &self.name)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl BootstrapScram {
    /// Parse `MECHANISM=[name=NAME,password=PASSWORD(,iterations=N)]`; a value may be quoted
    /// with `"` (to hold `,` or `]`).
    pub fn parse(text: &str) -> Result<BootstrapScram, String> {
        let bad = |why: &str| {
            format!("--add-scram: {why} (expected MECHANISM=[name=NAME,password=PASSWORD,iterations=N])")
        };
        let (mechanism, rest) = text.split_once('=').ok_or_else(|| bad("no '='"))?;
        let mechanism = ScramMechanism::from_name(mechanism.trim())
            .ok_or_else(|| bad("the mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512"))?;
        let inner = rest
            .trim()
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or_else(|| bad("the settings must be in [...]"))?;
        let (mut name, mut password, mut iterations) = (None, None, MIN_ITERATIONS);
        let mut chars = inner.chars().peekable();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            let key = key.trim().to_string();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    value.push(c);
                }
                // Up to the next separator.
                for c in chars.by_ref() {
                    if c == ',' {
                        break;
                    }
                }
            } else {
                value = chars.by_ref().take_while(|c| *c != ',').collect();
            }
            match key.as_str() {
                "name" => name = Some(value),
                "password" => password = Some(value),
                "iterations" => {
                    iterations = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("iterations must be a number"))?;
                    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
                        return Err(bad("iterations must be 4096 to 16384"));
                    }
                }
                _ => return Err(bad("only name, password and iterations are understood")),
            }
        }
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("no name"))?;
        let password = password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("no password"))?;
        Ok(BootstrapScram {
            mechanism,
            name,
            password,
            iterations,
        })
    }
}

/// Why an exchange failed. Only logged (at debug): the client gets Kafka's generic message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("invalid credentials")]
    Invalid,
    #[error("unsupported SCRAM feature: {0}")]
    Unsupported(&'static str),
}

/// A SCRAM exchange after the server-first message, waiting for the client-final one.
pub(crate) struct ScramServer {
    mechanism: ScramMechanism,
    user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
    /// False for an unknown user: the exchange goes on with a made-up credential and fails at
    /// the end, so an unknown user cannot be told from a wrong password.
    known: bool,
}

impl std::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Undo RFC 5802's escaping of a user name (`=2C` is `,`, `=3D` is `=`); any other `=` is
/// malformed.
fn unescape_name(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3);
        match code {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `nonce` is printable ASCII without `,` (RFC 5802's `printable`).
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

impl ScramServer {
    /// The exchange's mechanism.
    pub(crate) fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Take the client-first message and answer the server-first one. `lookup` finds a user's
    /// stored credential for this mechanism; `fake` makes the stand-in for an unknown user.
    pub(crate) fn start(
        mechanism: ScramMechanism,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
        fake: impl FnOnce(&str) -> ScramCredential,
    ) -> Result<(ScramServer, Vec<u8>), ScramError> {
        let text = message_text(message)?;
        // gs2-header: cbind flag, then the authorization id, then the bare message.
        let (flag, rest) = text
            .split_once(',')
            .ok_or(ScramError::Malformed("no gs2 header"))?;
        match flag {
            "n" => {}
            "y" | "p" => return Err(ScramError::Unsupported("channel binding")),
            _ => return Err(ScramError::Malformed("bad channel binding flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("no gs2 header"))?;
        let authzid = match authzid {
            "" => None,
            a => Some(unescape_name(
                a.strip_prefix("a=")
                    .ok_or(ScramError::Malformed("bad authorization id"))?,
            )?),
        };
        let mut parts = bare.split(',');
        let user = parts
            .next()
            .and_then(|p| p.strip_prefix("n="))
            .ok_or(ScramError::Malformed("no user name"))?;
        let user = unescape_name(user)?;
        let client_nonce = parts
            .next()
            .and_then(|p| p.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if user.is_empty() || !valid_nonce(client_nonce) {
            return Err(ScramError::Malformed("empty user name or bad nonce"));
        }
        // Extensions: Kafka's only one is `tokenauth` (delegation tokens, not served).
        for ext in parts {
            if ext.starts_with("tokenauth=") {
                return Err(ScramError::Unsupported("delegation token authentication"));
            }
        }
        if authzid.as_deref().is_some_and(|a| a != user) {
            return Err(ScramError::Invalid);
        }
        let (credential, known) = match lookup(&user) {
            Some(c) => (c, true),
            None => (fake(&user), false),
        };
        let server_nonce: [u8; 24] = rand::random();
        let nonce = format!("{client_nonce}{}", Base64::encode_string(&server_nonce));
        let server_first = format!(
            "r={nonce},s={},i={}",
            Base64::encode_string(&credential.salt),
            credential.iterations
        );
        let answer = server_first.clone().into_bytes();
        Ok((
            ScramServer {
                mechanism,
                user,
                gs2_header: format!("{flag},{authzid_raw},", authzid_raw = rest_authzid(rest)),
                client_first_bare: bare.to_string(),
                server_first,
                nonce,
                credential,
                known,
            },
            answer,
        ))
    }

    /// Take the client-final message: the user name and the server-final message when the
    /// proof is right.
    pub(crate) fn finish(self, message: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        let text = message_text(message)?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut parts = without_proof.split(',');
        let binding = parts
            .next()
            .and_then(|p| p.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding"))?;
        let nonce = parts
            .next()
            .and_then(|p| p.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        let binding = Base64::decode_vec(binding)
            .map_err(|_| ScramError::Malformed("channel binding is not base64"))?;
        if binding != self.gs2_header.as_bytes() {
            return Err(ScramError::Malformed(
                "channel binding differs from the gs2 header",
            ));
        }
        if nonce != self.nonce {
            return Err(ScramError::Malformed("nonce differs"));
        }
        let proof =
            Base64::decode_vec(proof).map_err(|_| ScramError::Malformed("proof is not base64"))?;
        let m = self.mechanism;
        if proof.len() != m.output_len() {
            return Err(ScramError::Malformed("proof of the wrong length"));
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_signature = m.hmac(&self.credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let matches: bool = m
            .hash(&client_key)
            .ct_eq(&self.credential.stored_key)
            .into();
        if !matches || !self.known {
            return Err(ScramError::Invalid);
        }
        let server_signature = m.hmac(&self.credential.server_key, auth_message.as_bytes());
        let answer = format!("v={}", Base64::encode_string(&server_signature)).into_bytes();
        Ok((self.user, answer))
    }
}

/// A client message as text: at most [`MAX_MESSAGE`] bytes of UTF-8.
fn message_text(message: &[u8]) -> Result<&str, ScramError> {
    if message.len() > MAX_MESSAGE {
        return Err(ScramError::Malformed("message too long"));
    }
    std::str::from_utf8(message).map_err(|_| ScramError::Malformed("message is not UTF-8"))
}

/// The authorization id part of a gs2 header as sent (`rest` is the message after the flag's
/// comma).
fn rest_authzid(rest: &str) -> &str {
    rest.split_once(',').map_or("", |(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client side of RFC 5802, for the round trip (the same derivations, so the test checks
    /// the message handling; RFC 7677's vector below checks the derivations).
    fn client_final(
        m: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").unwrap();
        let salt = Base64::decode_vec(fields[1].strip_prefix("s=").unwrap()).unwrap();
        let iterations: u32 = fields[2].strip_prefix("i=").unwrap().parse().unwrap();
        let salted = m.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = m.hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", Base64::encode_string(&proof))
    }

    #[test]
    fn add_scram_syntax() {
        let b = BootstrapScram::parse("SCRAM-SHA-512=[name=alice,password=alice-secret]").unwrap();
        assert_eq!(
            (
                b.mechanism,
                b.name.as_str(),
                b.password.as_str(),
                b.iterations
            ),
            (ScramMechanism::Sha512, "alice", "alice-secret", 4096)
        );
        let b =
            BootstrapScram::parse(r#"SCRAM-SHA-256=[name=bob,password="a,b]c",iterations=8192]"#)
                .unwrap();
        assert_eq!((b.password.as_str(), b.iterations), ("a,b]c", 8192));
        assert!(!format!("{b:?}").contains("a,b"));
        for bad in [
            "",
            "PLAIN=[name=a,password=b]",
            "SCRAM-SHA-256=name=a",
            "SCRAM-SHA-256=[name=a]",
            "SCRAM-SHA-256=[password=b]",
            "SCRAM-SHA-256=[name=a,password=b,iterations=10]",
            "SCRAM-SHA-256=[name=a,password=b,salt=x]",
        ] {
            assert!(BootstrapScram::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc7677_sha256_vector() {
        // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
        // 4096 iterations.
        let m = ScramMechanism::Sha256;
        let salt = Base64::decode_vec("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let cred = m.credential_from_salted(&salted, &salt, 4096);
        let bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth = format!("{bare},{server_first},{without_proof}");
        let server_sig = m.hmac(&cred.server_key, auth.as_bytes());
        assert_eq!(
            Base64::encode_string(&server_sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn exchange_succeeds_and_fails() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let cred = m.credential("alice-secret", 4096);
            let fake = |_: &str| m.credential("x", 4096);
            let bare = "n=alice,r=abcdefgh";
            let first = format!("n,,{bare}");
            let (server, sf) =
                ScramServer::start(m, first.as_bytes(), |_| Some(cred.clone()), fake).unwrap();
            let sf = String::from_utf8(sf).unwrap();
            let fin = client_final(m, "alice-secret", bare, &sf);
            let (user, v) = server.finish(fin.as_bytes()).unwrap();
            assert_eq!(user, "alice");
            assert!(v.starts_with(b"v="));

            let (server, sf) =
                ScramServer::start(m, first.as_bytes(), |_| Some(cred.clone()), fake).unwrap();
            let fin = client_final(m, "wrong", bare, &String::from_utf8(sf).unwrap());
            assert!(matches!(
                server.finish(fin.as_bytes()),
                Err(ScramError::Invalid)
            ));

            // An unknown user gets a server-first message too, and fails at the end.
            let (server, sf) = ScramServer::start(m, first.as_bytes(), |_| None, fake).unwrap();
            let fin = client_final(m, "x", bare, &String::from_utf8(sf).unwrap());
            assert!(matches!(
                server.finish(fin.as_bytes()),
                Err(ScramError::Invalid)
            ));
        }
    }

    #[test]
    fn malformed_messages_fail_without_panic() {
        let m = ScramMechanism::Sha512;
        let fake = |_: &str| m.credential("x", 4096);
        for bad in [
            &b""[..],
            b"n",
            b"n,",
            b"n,,",
            b"n,,n=",
            b"n,,n=a",
            b"n,,n=a,r=",
            b"n,,n=a=,r=x",
            b"y,,n=a,r=x",
            b"n,,n=a,r=x,tokenauth=true",
            b"n,a=b,n=a,r=x",
            b"\xff\xfe",
        ] {
            assert!(
                ScramServer::start(m, bad, |_| None, fake).is_err(),
                "{bad:?}"
            );
        }
        let (server, _) = ScramServer::start(m, b"n,,n=a,r=x", |_| None, fake).unwrap();
        for bad in [&b""[..], b"c=biws", b"c=biws,r=x,p=", b",p=!!", b"\xff"] {
            let (s, _) = ScramServer::start(m, b"n,,n=a,r=x", |_| None, fake).unwrap();
            assert!(s.finish(bad).is_err(), "{bad:?}");
        }
        assert!(server.finish(&vec![b'a'; MAX_MESSAGE + 1]).is_err());
        assert_eq!(unescape_name("a=2Cb=3Dc").unwrap(), "a,b=c");
    }
}
