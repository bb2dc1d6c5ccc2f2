//! Kafka's JAAS configuration lines (`sasl.jaas.config`), read for the users of PLAIN.
//!
//! It exists because Kafka brokers take their PLAIN users from a JAAS line such as
//! `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin"
//! password="admin-secret" user_alice="alice-secret";`, and the same line should configure
//! minikafka. The grammar follows Kafka's `JaasConfig` (a `StreamTokenizer`): a login module
//! class, a control flag, `key=value` options (values quoted, with backslash escapes, or bare
//! words) and a closing `;`.

use std::collections::BTreeMap;

/// One login module entry of a JAAS line.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct LoginModule {
    /// The login module class.
    pub(crate) class: String,
    /// Its options, in the order given (a later duplicate wins).
    pub(crate) options: BTreeMap<String, String>,
}

impl std::fmt::Debug for LoginModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Options carry passwords: names only.
        f.debug_struct("LoginModule")
            .field("class", &self.class)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The control flags Kafka's `JaasConfig` accepts.
const FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

/// Parse a JAAS line of exactly one login module (Kafka refuses a `sasl.jaas.config` with
/// several). Errors never quote option values (they may be passwords).
pub(crate) fn parse(text: &str) -> Result<LoginModule, String> {
    let tokens = tokenize(text)?;
    let mut it = tokens.into_iter().peekable();
    let class = match it.next() {
        Some(Token::Word(w)) => w,
        _ => return Err("the JAAS configuration does not start with a login module".into()),
    };
    match it.next() {
        Some(Token::Word(flag)) if FLAGS.contains(&flag.to_ascii_lowercase().as_str()) => {}
        _ => {
            return Err(format!(
                "login module {class}: expected a control flag (required, requisite, sufficient or optional)"
            ))
        }
    }
    let mut options = BTreeMap::new();
    loop {
        match it.next() {
            Some(Token::Semicolon) => break,
            Some(Token::Word(key)) => {
                if it.next() != Some(Token::Equals) {
                    return Err(format!("option {key}: expected '=' after its name"));
                }
                match it.next() {
                    Some(Token::Word(v)) | Some(Token::Quoted(v)) => {
                        options.insert(key, v);
                    }
                    _ => return Err(format!("option {key}: expected a value")),
                }
            }
            _ => return Err("the JAAS configuration must end with ';'".into()),
        }
    }
    if it.next().is_some() {
        return Err("the JAAS configuration has more than one login module".into());
    }
    Ok(LoginModule { class, options })
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            ';' => {
                chars.next();
                out.push(Token::Semicolon);
            }
            '"' | '\'' => {
                let quote = c;
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted value is not closed".into()),
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(other) => s.push(other),
                            None => return Err("a quoted value is not closed".into()),
                        },
                        Some(q) if q == quote => break,
                        Some(other) => s.push(other),
                    }
                }
                out.push(Token::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == ';' || c == '"' || c == '\'' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_plain_line() {
        let m = parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a\"b";"#,
        )
        .unwrap();
        assert_eq!(
            m.class,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(m.options["user_alice"], "a\"b");
        assert_eq!(m.options["username"], "admin");
        assert!(!format!("{m:?}").contains("admin-secret"));
    }

    #[test]
    fn refused_lines() {
        for bad in [
            "",
            "Module",
            "Module required user_a=\"x\"",
            "Module always;",
            "Module required user_a;",
            "Module required user_a=\"x;",
            "A required; B required;",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("M required;").unwrap().options.is_empty());
    }
}
