//! `ssl.principal.mapping.rules`: how a client certificate's subject distinguished name becomes
//! the connection's principal, with Kafka's rule syntax and semantics (`SslPrincipalMapper`).
//!
//! It exists because deployments name their users by rules such as
//! `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,DEFAULT` (the principal `User:duke` for
//! `CN=Duke,OU=ServiceUsers,...`), and ACLs are written for those names; the same rules must give
//! the same principals here.
//!
//! - Rules are separated by commas (surrounding spaces ignored, empty ones skipped) and tried in
//!   order; the first that applies gives the name.
//! - `DEFAULT` applies to every name and keeps the distinguished name as it is.
//! - `RULE:pattern/replacement/` applies when `pattern` matches the whole name; the name is then
//!   every match of `pattern` replaced with `replacement` (`$1`… the groups, `\` escapes the next
//!   character; a group number beyond the pattern's groups is literal text, as in Kafka). A
//!   trailing `L` or `U` (`.../L`) lower- or upper-cases the result. `/` and `,` in a pattern are
//!   written `\/` and `\,`.
//! - A name no rule applies to is refused: Kafka fails the authentication (the connection is
//!   closed), and so does minikafka.
//!
//! Patterns are compiled by the `regex` crate, whose syntax is Java's for everything such rules
//! use (classes, groups, lazy quantifiers, anchors); look-around and back-references in the
//! pattern, which `regex` lacks, are refused at start with the pattern named.

use regex::Regex;

/// Kafka's `RULE_PATTERN`: `DEFAULT`, a `RULE:` or (as the last alternative) anything, which is
/// how an invalid rule is recognised.
const RULE: &str = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)";

/// One parsed rule.
#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        /// The pattern as given (for messages).
        source: String,
        /// The pattern, anchored: applies only when it matches the whole name.
        whole: Regex,
        /// The pattern for the replacement of every match.
        each: Regex,
        /// The replacement in `regex`'s syntax (`${1}`, `$$`).
        replacement: String,
        /// The replacement as given (for messages).
        given: String,
        lower: bool,
        upper: bool,
    },
}

/// The parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub(crate) struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl PrincipalMapper {
    /// Parses `rules` as Kafka does, or says which rule is invalid.
    pub(crate) fn parse(rules: &str) -> Result<PrincipalMapper, String> {
        // Unwraps of constant patterns that are known to compile.
        let splitter = Regex::new(&format!(r"\s*({RULE})\s*(?:,\s*|$)")).expect("valid regex");
        let parser = Regex::new(&format!("^(?:{RULE})")).expect("valid regex");
        let mut out = Vec::new();
        for c in splitter.captures_iter(rules.trim()) {
            let rule = c.get(1).map_or("", |m| m.as_str());
            let p = parser
                .captures(rule)
                .ok_or_else(|| format!("Invalid rule: {rule}"))?;
            let end = p.get(0).map_or(0, |m| m.end());
            if end != rule.len() {
                return Err(format!(
                    "Invalid rule: `{rule}`, unmatched substring: `{}`",
                    &rule[end..]
                ));
            }
            if p.get(1).is_some() {
                out.push(Rule::Default);
            } else if let (Some(pattern), Some(replacement)) = (p.get(2), p.get(3)) {
                let source = pattern.as_str().to_string();
                let compile = |re: &str| {
                    Regex::new(re)
                        .map_err(|e| format!("Invalid rule: `{rule}`: pattern {source}: {e}"))
                };
                let each = compile(&source)?;
                let whole = compile(&format!("^(?:{source})$"))?;
                let groups = each.captures_len() - 1;
                let flag = p.get(4).map_or("", |m| m.as_str());
                out.push(Rule::Replace {
                    replacement: replacement_syntax(replacement.as_str(), groups),
                    given: replacement.as_str().to_string(),
                    source,
                    whole,
                    each,
                    lower: flag == "L",
                    upper: flag == "U",
                });
            }
            // Otherwise an empty rule: ignored.
        }
        Ok(PrincipalMapper { rules: out })
    }

    /// The name for distinguished name `dn`: the first rule that applies, or why none does.
    pub(crate) fn name(&self, dn: &str) -> Result<String, String> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace {
                    whole,
                    each,
                    replacement,
                    lower,
                    upper,
                    ..
                } if whole.is_match(dn) => {
                    let name = each.replace_all(dn, replacement.as_str()).into_owned();
                    return Ok(if *lower {
                        name.to_lowercase()
                    } else if *upper {
                        name.to_uppercase()
                    } else {
                        name
                    });
                }
                Rule::Replace { .. } => {}
            }
        }
        Err(format!("No rules apply to {dn}, rules {}", self.shown()))
    }

    /// The rules as Kafka prints them: `[RULE:pattern/replacement/L, DEFAULT]`.
    fn shown(&self) -> String {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| match r {
                Rule::Default => "DEFAULT".to_string(),
                Rule::Replace {
                    source,
                    given,
                    lower,
                    upper,
                    ..
                } => format!(
                    "RULE:{source}/{given}{}",
                    if *lower {
                        "/L"
                    } else if *upper {
                        "/U"
                    } else {
                        ""
                    }
                ),
            })
            .collect();
        format!("[{}]", rules.join(", "))
    }
}

/// A Java `Matcher.replaceAll` replacement as `regex`'s: `\c` is the character `c`; `$n` is group
/// `n` with as many digits as keep it a group of the pattern (Java's reading), and a `$` whose
/// first digit is beyond the `groups` is literal (Kafka's `escapeLiteralBackReferences`); any
/// other character is itself (`$` doubled for `regex`).
fn replacement_syntax(java: &str, groups: usize) -> String {
    let mut out = String::with_capacity(java.len() + 8);
    let chars: Vec<char> = java.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                push_literal(&mut out, chars[i + 1]);
                i += 2;
            }
            '$' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                let first = chars[i + 1].to_digit(10).unwrap_or(0) as usize;
                if first > groups {
                    out.push_str("$$");
                    i += 1;
                    continue;
                }
                let mut n = first;
                let mut j = i + 2;
                while let Some(d) = chars.get(j).and_then(|c| c.to_digit(10)) {
                    let next = n * 10 + d as usize;
                    if next > groups {
                        break;
                    }
                    n = next;
                    j += 1;
                }
                out.push_str(&format!("${{{n}}}"));
                i = j;
            }
            c => {
                push_literal(&mut out, c);
                i += 1;
            }
        }
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if c == '$' {
        out.push_str("$$");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Kafka's SslPrincipalMapperTest.testValidRules / testInvalidRules.
    #[test]
    fn kafkas_valid_and_invalid_rules() {
        for valid in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ] {
            assert!(PrincipalMapper::parse(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(PrincipalMapper::parse(invalid).is_err(), "{invalid}");
        }
        assert_eq!(
            PrincipalMapper::parse("DEFAULT/L").unwrap_err(),
            "Invalid rule: `DEFAULT/L`, unmatched substring: `/L`"
        );
    }

    // Kafka's SslPrincipalMapperTest.testSslPrincipalMapper.
    #[test]
    fn kafkas_mapping_examples() {
        let rules = [
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
            "DEFAULT",
        ]
        .join(", ");
        let m = PrincipalMapper::parse(&rules).unwrap();
        let name = |dn: &str| m.name(dn).unwrap();
        assert_eq!(name("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke");
        assert_eq!(
            name("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"),
            "duke@sme"
        );
        assert_eq!(name("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME");
        assert_eq!(name("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE");
        assert_eq!(
            name("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    // Kafka's testCommaWithWhitespace, empty rules, and no rule applying.
    #[test]
    fn escapes_empty_rules_and_no_match() {
        let m = PrincipalMapper::parse(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT").unwrap();
        assert_eq!(
            m.name(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz").unwrap(),
            r"Tkac\, Adam"
        );
        let m = PrincipalMapper::parse(",,RULE://,,,DEFAULT,,").unwrap();
        assert_eq!(m.rules.len(), 2);
        assert_eq!(PrincipalMapper::parse(",   , ,  ").unwrap().rules.len(), 0);
        let m = PrincipalMapper::parse("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/").unwrap();
        assert_eq!(
            m.name("CN=alice,OU=test").unwrap_err(),
            "No rules apply to CN=alice,OU=test, rules [RULE:^CN=(.*?),OU=ServiceUsers.*$/$1]"
        );
        // A group beyond the pattern's is literal; a later digit that would be one is not taken.
        let m = PrincipalMapper::parse(r"RULE:^CN=(.*)$/$1@$4 \$ $12/").unwrap();
        assert_eq!(m.name("CN=x").unwrap(), "x@$4 $ x2");
    }
}
