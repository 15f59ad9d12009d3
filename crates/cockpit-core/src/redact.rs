/// A URL with any password or token replaced by `***`, safe to print.
///
/// Userinfo passwords (`redis://user:secret@host`), a bare userinfo that is a
/// token (`redis://:secret@host`, `https://token@host`) and query parameters
/// whose names suggest a secret (`token`, `key`, `password`, `secret`, `sig`,
/// `auth`) are all replaced. Inputs that are not URLs come back unchanged
/// except for the same userinfo rule.
///
/// ```
/// use cockpit_core::redact_url;
/// assert_eq!(redact_url("redis://:hunter2@10.0.0.3:6379"), "redis://:***@10.0.0.3:6379");
/// assert_eq!(redact_url("rediss://app:pw@h/0"), "rediss://app:***@h/0");
/// assert_eq!(redact_url("https://h/x?api_key=abc&n=1"), "https://h/x?api_key=***&n=1");
/// assert_eq!(redact_url("http://127.0.0.1:8080/healthz"), "http://127.0.0.1:8080/healthz");
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let host = &authority[at + 1..];
            match userinfo.find(':') {
                Some(c) => format!("{}:***@{host}", &userinfo[..c]),
                None => format!("***@{host}"),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let (query, fragment) = match query.find('#') {
                Some(h) => query.split_at(h),
                None => (query, ""),
            };
            let parts: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_secret_name(k) => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}{}{fragment}", parts.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "key",
        "password",
        "passwd",
        "secret",
        "sig",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn token_only_userinfo() {
        assert_eq!(
            redact_url("https://ghp_abc@example.com/x"),
            "https://***@example.com/x"
        );
    }

    #[test]
    fn at_sign_in_path_is_not_userinfo() {
        assert_eq!(redact_url("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn query_and_fragment() {
        assert_eq!(
            redact_url("http://h/?token=t&x=1#frag"),
            "http://h/?token=***&x=1#frag"
        );
    }
}
