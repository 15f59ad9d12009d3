//! A Redis URL, parsed once: where to connect, how to authenticate, and the
//! one form of it that is ever shown (credentials replaced by `***`).
//!
//! Redaction works on the parsed URL, never on string positions: a password
//! holding `/`, `#`, `?`, `@` or `%` (base64 passwords hold `/` and `+`)
//! must be percent-encoded in the URL, and a URL that does not parse is
//! shown as its scheme alone, since where its password ends is unknown.

use percent_encoding::percent_decode_str;

use crate::StmError;

/// The schemes accepted; the `s` ones connect with TLS.
pub(crate) const SCHEMES: [&str; 4] = ["redis", "rediss", "valkey", "valkeys"];

/// Where and how to connect. `Debug` shows the redacted form only.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub tls: bool,
    /// The host, without IPv6 brackets (what TCP and TLS's SNI take).
    pub host: String,
    pub port: u16,
    /// Percent-decoded.
    pub username: Option<Vec<u8>>,
    /// Percent-decoded.
    pub password: Option<Vec<u8>>,
    pub db: u32,
    /// `scheme://[user:***@]host:port[/db]`: the only form ever shown.
    pub shown: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Endpoint").field(&self.shown).finish()
    }
}

impl Endpoint {
    /// Parse `redis://[user:password@]host[:port][/db]` (or `rediss://`,
    /// `valkey://`, `valkeys://`). The error shows the URL redacted and
    /// never a piece of it.
    pub fn parse(url: &str) -> Result<Endpoint, StmError> {
        Endpoint::parse_unnamed(url).map_err(|message| StmError::Url {
            url: redacted(url),
            message,
        })
    }

    /// The parse; the error says what is wrong without any piece of `url`.
    fn parse_unnamed(url: &str) -> Result<Endpoint, String> {
        let parsed = url::Url::parse(url).map_err(|e| {
            format!("{e} (a password holding / # ? @ or % must be percent-encoded: / is %2F)")
        })?;
        let scheme = parsed.scheme();
        if !SCHEMES.contains(&scheme) {
            return Err("the scheme must be redis:// or rediss:// (TLS)".into());
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err("query parameters and fragments are not supported (a password holding ? or # must be percent-encoded)".into());
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        let port = parsed.port().unwrap_or(6379);
        let db = match parsed.path().trim_start_matches('/') {
            "" => 0,
            p => p.parse::<u32>().map_err(|_| {
                "the path must be empty or /N, a database number (a password holding / must be percent-encoded as %2F)".to_string()
            })?,
        };
        let decode = |s: &str| percent_decode_str(s).collect::<Vec<u8>>();
        let username = Some(parsed.username())
            .filter(|u| !u.is_empty())
            .map(decode);
        let password = parsed.password().filter(|p| !p.is_empty()).map(decode);
        let userinfo = match (parsed.username(), &password) {
            ("", None) => String::new(),
            (user, Some(_)) => format!("{user}:***@"),
            (_, None) => "***@".to_string(),
        };
        let host_shown = match parsed.host() {
            Some(url::Host::Ipv6(_)) => format!("[{host}]"),
            _ => host.clone(),
        };
        let db_shown = if db == 0 {
            String::new()
        } else {
            format!("/{db}")
        };
        Ok(Endpoint {
            tls: matches!(scheme, "rediss" | "valkeys"),
            shown: format!("{scheme}://{userinfo}{host_shown}:{port}{db_shown}"),
            host,
            port,
            username,
            password,
            db,
        })
    }
}

/// `url` as it may be shown: the parsed form with credentials replaced, or,
/// when it does not parse, its scheme alone (`redis://…`).
pub fn redacted(url: &str) -> String {
    if let Ok(e) = Endpoint::parse_unnamed(url) {
        return e.shown;
    }
    match url.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme.len() <= 16
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+') =>
        {
            format!("{scheme}://…")
        }
        _ => "(a URL that does not parse, not shown)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passwords with every URL-special character, as they would be written
    /// percent-encoded, and their decoded form.
    const SECRETS: [(&str, &str); 6] = [
        ("ab%2Fcd%2Bef%3D%3D", "ab/cd+ef=="),
        ("p%23ss", "p#ss"),
        ("p%40ss", "p@ss"),
        ("p%25ss", "p%ss"),
        ("p%3Fss", "p?ss"),
        ("p%3Ass", "p:ss"),
    ];

    #[test]
    fn percent_encoded_credentials_are_decoded_and_never_shown() {
        for (encoded, plain) in SECRETS {
            let url = format!("rediss://alice:{encoded}@cache.internal:6380/2");
            let e = Endpoint::parse(&url).unwrap();
            assert_eq!(e.password.as_deref(), Some(plain.as_bytes()));
            assert_eq!(e.username.as_deref(), Some(&b"alice"[..]));
            assert_eq!((e.tls, e.port, e.db), (true, 6380, 2));
            assert_eq!(e.shown, "rediss://alice:***@cache.internal:6380/2");
            assert_eq!(redacted(&url), e.shown);
            for shown in [format!("{e:?}"), redacted(&url)] {
                assert!(
                    !shown.contains(encoded) && !shown.contains(plain),
                    "{shown}"
                );
            }
        }
        let e = Endpoint::parse("redis://:s3cret@[::1]").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.db, e.tls),
            ("::1", 6379, 0, false)
        );
        assert!(Endpoint::parse("valkeys://h").unwrap().tls);
        assert!(!Endpoint::parse("valkey://h").unwrap().tls);
        assert_eq!(e.shown, "redis://:***@[::1]:6379");
        assert_eq!(
            Endpoint::parse("redis://tok3n@h").unwrap().shown,
            "redis://***@h:6379"
        );
    }

    #[test]
    fn unencoded_special_characters_are_an_error_that_shows_no_piece() {
        // Written raw, these split the URL in the wrong place: the error
        // must not show any part of what follows the scheme.
        for raw in [
            "ab/cd+ef==",
            "pw#hidden1",
            "pw?hidden2",
            "hid@den3/x",
            "x/hidden4@z",
            "pw%zzhidden5/q",
        ] {
            let url = format!("redis://:{raw}@127.0.0.1:16380");
            let shown = redacted(&url);
            // Every run of 4 characters of the secret.
            let chars: Vec<char> = raw.chars().collect();
            let pieces: Vec<String> = chars.windows(4).map(|w| w.iter().collect()).collect();
            let msg = match Endpoint::parse(&url) {
                Err(e) => {
                    let msg = format!("{e} {e:?}");
                    assert!(msg.contains("percent-encoded"), "{msg}");
                    msg
                }
                Ok(e) => format!("{e:?}"),
            };
            for p in &pieces {
                assert!(!msg.contains(p.as_str()), "{raw}: {msg}");
                assert!(!shown.contains(p.as_str()), "{raw}: {shown}");
            }
        }
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (url, why) in [
            ("http://h:1", "scheme"),
            ("redis://h:99999", "invalid port"),
            ("redis://h/x", "database number"),
            ("redis://h/1/2", "database number"),
            ("redis://h?password=x", "query"),
            ("redis://", "host"),
        ] {
            let e = Endpoint::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("password=x"), "{e}");
        }
    }
}
