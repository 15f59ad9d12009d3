//! Redaction of URLs before they are shown.
//!
//! A URL is parsed (with the `url` crate) and its secret parts are replaced
//! on the parsed form, never by searching string positions: a password
//! holding `/`, `#`, `?` or `@` (base64 passwords hold `/` and `+`) cannot
//! shift what is treated as the host. A string that does not parse as a URL
//! is redacted conservatively instead (see [`redact_url`]).

/// What replaces a secret.
const MASK: &str = "***";

/// A URL with any password or token replaced by `***`, safe to print.
///
/// On a URL that parses:
/// - the user name and the password are each replaced, keeping the shape:
///   `redis://:secret@host` becomes `redis://:***@host`,
///   `https://user:secret@host` becomes `https://***:***@host` (a user name
///   can be a token), `https://token@host` becomes `https://***@host`;
/// - query parameters (and `key=value` pairs in the fragment, as in OAuth's
///   `#access_token=`) whose names suggest a secret (`token`, `key`,
///   `password`, `pwd`, `pass`, `secret`, `sig`, `auth`, `credential`,
///   `session`, `code`) get the value `***`.
///
/// A string that does not parse as a URL (`http://alice:S3c/retPW@host`,
/// whose password holds a `/`, is not a URL) loses everything between
/// `://` and its last `@`, and the same query rule applies to what follows.
/// So does a URL with no userinfo whose first path segment holds an `@`
/// (`http://bob:2024/Winter@host`, a password cut into a port and a path).
/// A URL without anything to redact comes back exactly as given.
///
/// ```
/// use cockpit_core::redact_url;
/// assert_eq!(redact_url("redis://:hunter2@10.0.0.3:6379"), "redis://:***@10.0.0.3:6379");
/// assert_eq!(redact_url("rediss://app:pw@h/0"), "rediss://***:***@h/0");
/// assert_eq!(redact_url("https://h/x?api_key=abc&n=1"), "https://h/x?api_key=***&n=1");
/// assert_eq!(redact_url("http://127.0.0.1:8080/healthz"), "http://127.0.0.1:8080/healthz");
/// // Not a URL (the `/` ends the authority): everything up to the last `@` goes.
/// assert_eq!(redact_url("redis://:ab/cd+ef==@127.0.0.1:6379"), "redis://***@127.0.0.1:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(parsed) if misplaced_userinfo(&parsed) => redact_unparsed(url),
        Ok(parsed) if !parsed.cannot_be_a_base() || !url.contains("://") => {
            redact_parsed(url, parsed)
        }
        _ => redact_unparsed(url),
    }
}

/// A URL that parses only because a password cut at its `/` left digits
/// that read as a port: `http://bob:2024/Winter@host/` is host `bob`, port
/// 2024, path `/Winter@host/`. No userinfo, and an `@` inside the first
/// path segment (not leading it, as in npm's `/@scope`): treated as a
/// string that is not a URL.
fn misplaced_userinfo(u: &url::Url) -> bool {
    if !u.username().is_empty() || u.password().is_some() || u.cannot_be_a_base() {
        return false;
    }
    let first = u
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    first.find('@').is_some_and(|i| i > 0)
}

/// Redact a parsed URL; `raw` is returned as it is when nothing is secret.
fn redact_parsed(raw: &str, mut u: url::Url) -> String {
    let mut changed = false;
    if !u.username().is_empty() || u.password().is_some() {
        // Both parts go (a user name can be a token, as in
        // `https://TOKEN:x-oauth-basic@host`); the shape stays, so
        // `redis://:***@` still reads as "a password, no user".
        // The setters fail only on URLs without a host, which have no userinfo.
        if !u.username().is_empty() {
            let _ = u.set_username(MASK);
        }
        if u.password().is_some() {
            let _ = u.set_password(Some(MASK));
        }
        changed = true;
    }
    if let Some(q) = u.query().and_then(redact_pairs) {
        u.set_query(Some(&q));
        changed = true;
    }
    if let Some(f) = u.fragment().and_then(redact_pairs) {
        u.set_fragment(Some(&f));
        changed = true;
    }
    if changed {
        u.to_string()
    } else {
        raw.to_string()
    }
}

/// `a=1&token=x` → `Some("a=1&token=***")`; `None` when nothing is secret.
fn redact_pairs(pairs: &str) -> Option<String> {
    let mut changed = false;
    let out: Vec<String> = pairs
        .split(['&', ';'])
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if is_secret_name(k) && v != MASK => {
                changed = true;
                format!("{k}={MASK}")
            }
            _ => kv.to_string(),
        })
        .collect();
    changed.then(|| out.join("&"))
}

/// A string that is not a URL: everything between `://` and the last `@`
/// goes, whatever it holds; then the query rule on the rest.
fn redact_unparsed(s: &str) -> String {
    let (scheme, rest) = match s.find("://") {
        Some(i) => s.split_at(i + 3),
        None => ("", s),
    };
    let rest = match rest.rfind('@') {
        Some(at) => format!("{MASK}{}", &rest[at..]),
        None => rest.to_string(),
    };
    let rest = match rest.split_once('?') {
        Some((before, query)) => {
            let (query, fragment) = match query.find('#') {
                Some(h) => query.split_at(h),
                None => (query, ""),
            };
            let query = redact_pairs(query).unwrap_or_else(|| query.to_string());
            format!("{before}?{query}{fragment}")
        }
        None => rest,
    };
    format!("{scheme}{rest}")
}

/// Whether a query parameter's name suggests its value is a secret.
fn is_secret_name(name: &str) -> bool {
    let n = percent_decoded_lower(name);
    const WORDS: [&str; 12] = [
        "token",
        "key",
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "sig",
        "auth",
        "credential",
        "session",
        "code",
    ];
    WORDS.iter().any(|s| n.contains(s))
}

/// A query parameter name, percent-decoded (`%74oken` is `token`) and
/// lower-cased, for matching only.
fn percent_decoded_lower(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    /// Every form a secret can take in text: raw, percent-encoded (upper
    /// and lower case hex), form-encoded.
    fn forms(secret: &str) -> Vec<String> {
        let mut upper = String::new();
        let mut lower = String::new();
        for b in secret.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                upper.push(b as char);
                lower.push(b as char);
            } else {
                upper.push_str(&format!("%{b:02X}"));
                lower.push_str(&format!("%{b:02x}"));
            }
        }
        vec![secret.to_string(), upper, lower, secret.replace(' ', "+")]
    }

    fn assert_hidden(url: &str, secret: &str) -> String {
        let r = redact_url(url);
        for f in forms(secret) {
            assert!(!r.contains(&f), "{url} -> {r} still shows {f:?}");
        }
        r
    }

    /// Passwords holding each URL-special character, raw and encoded, in
    /// the userinfo of every scheme the tool reads.
    #[test]
    fn passwords_with_url_special_characters() {
        let secrets = [
            "ab/cd+ef==",
            "S3c/retPW",
            "p#ss",
            "p?ss",
            "p@ss",
            "p%ss",
            "p%2Fss",
            "a:b:c",
            "sp ace",
            "br[ack]et",
            "back\\slash",
            "semi;colon",
            "ünï",
        ];
        for scheme in ["redis", "rediss", "http", "https", "grpc"] {
            for s in secrets {
                let raw = format!("{scheme}://:{s}@127.0.0.1:6379/0");
                let r = assert_hidden(&raw, s);
                assert!(r.contains("127.0.0.1") || r.contains("***"), "{r}");
                let user = format!("{scheme}://alice:{s}@host.example/x?n=1");
                assert_hidden(&user, s);
                for enc in forms(s).into_iter().skip(1).take(2) {
                    let encoded = format!("{scheme}://alice:{enc}@host.example:80/x");
                    let r = assert_hidden(&encoded, s);
                    assert!(r.contains("://***:***@host.example"), "{encoded} -> {r}");
                }
            }
        }
    }

    #[test]
    fn encoded_password_keeps_the_host() {
        assert_eq!(
            redact_url("redis://:ab%2Fcd%2Bef%3D%3D@127.0.0.1:16380"),
            "redis://:***@127.0.0.1:16380"
        );
        assert_eq!(
            redact_url("https://alice:S3c%2FretPW@h.example/v1?x=1"),
            "https://***:***@h.example/v1?x=1"
        );
    }

    #[test]
    fn token_only_userinfo() {
        assert_eq!(
            redact_url("https://ghp_abc@example.com/x"),
            "https://***@example.com/x"
        );
        assert_eq!(redact_url("http://tok%2Fen@h:1/"), "http://***@h:1/");
    }

    #[test]
    fn unparseable_strings_lose_everything_up_to_the_last_at() {
        assert_eq!(
            redact_url("http://alice:S3c/retPW@host/v1"),
            "http://***@host/v1"
        );
        assert_eq!(
            redact_url("redis://:ab/cd+ef==@127.0.0.1:16380"),
            "redis://***@127.0.0.1:16380"
        );
        assert_eq!(redact_url("http://a:p#w@h/"), "http://***@h/");
        assert_eq!(redact_url("http://a:p?w@h/"), "http://***@h/");
        assert_eq!(redact_url("http://a:b@h:99999/"), "http://***@h:99999/");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(
            redact_url("host:port?token=abc"),
            "host:port?token=***",
            "a scheme-less string keeps the query rule"
        );
    }

    #[test]
    fn at_sign_in_a_later_path_segment_is_not_userinfo() {
        assert_eq!(redact_url("http://h/users/a@b"), "http://h/users/a@b");
        assert_eq!(redact_url("https://h/@scope/pkg"), "https://h/@scope/pkg");
    }

    #[test]
    fn a_password_cut_into_port_and_path_is_hidden() {
        let r = redact_url("http://bob:2024/Winter@host.example/v1");
        assert_eq!(r, "http://***@host.example/v1");
        assert_hidden("redis://:123/456@10.0.0.3:6379", "123/456");
    }

    #[test]
    fn credential_like_query_parameters() {
        for name in [
            "token",
            "access_token",
            "pwd",
            "password",
            "passwd",
            "key",
            "api_key",
            "apikey",
            "X-Amz-Signature",
            "sig",
            "auth",
            "client_secret",
            "code",
            "sessionid",
            "%74oken",
            "TOKEN",
        ] {
            for secret in ["s3cr3t", "ab/cd+ef==", "a b", "x%2Fy"] {
                let url = format!("https://h.example/p?n=1&{name}={secret}&m=2");
                let r = assert_hidden(&url, secret);
                assert!(r.contains("n=1") && r.contains("m=2"), "{r}");
                let unparsed = format!("https://a:b:c/d@h.example/p?{name}={secret}");
                assert_hidden(&unparsed, secret);
            }
        }
    }

    #[test]
    fn query_and_fragment() {
        assert_eq!(
            redact_url("http://h/?token=t&x=1#frag"),
            "http://h/?token=***&x=1#frag"
        );
        assert_eq!(
            redact_url("https://h/cb#access_token=abc&state=1"),
            "https://h/cb#access_token=***&state=1"
        );
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for u in [
            "http://127.0.0.1:8080/healthz",
            "http://H.example",
            "grpc://127.0.0.1:50051",
            "redis://127.0.0.1:6379/0",
            "https://h/x?n=1&q=a%20b",
            "",
            "127.0.0.1:6379",
        ] {
            assert_eq!(redact_url(u), u);
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        for u in [
            "redis://:ab%2Fcd@h:1/0",
            "https://alice:pw@h/x?token=t",
            "http://a:S3c/retPW@host/",
        ] {
            let once = redact_url(u);
            assert_eq!(redact_url(&once), once, "{u}");
        }
    }
}
