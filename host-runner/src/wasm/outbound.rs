//! `allowed_outbound_hosts`: which addresses a component may connect to.
//!
//! Entries are `scheme://host[:port]` as in Spin: `scheme` may be `*`; `host` is a name, an IP
//! literal, `*`, or `*.domain` (any subdomain); `port` is a number, `*`, or a range `a..b`
//! (end exclusive), and when absent it is the scheme's well-known port. Templates
//! (`postgres://{{ database_host }}`) are rendered before parsing.

use anyhow::{bail, Context};

use super::variables::split_host_port;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
    Exact(u16),
    /// The default port of whichever scheme the address uses.
    SchemeDefault,
}

/// The well-known port of the schemes Spin knows.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "postgres" | "postgresql" => 5432,
        "mysql" => 3306,
        "redis" => 6379,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHost {
    pub fn parse(entry: &str) -> anyhow::Result<AllowedHost> {
        let (scheme, rest) = entry.split_once("://").with_context(|| format!("`{entry}` has no scheme (write e.g. postgres://host:5432)"))?;
        if rest.contains('/') && rest.trim_end_matches('/').contains('/') {
            bail!("`{entry}`: an allowed host has no path");
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = split_host_port(rest);
        let host = match host {
            "" => bail!("`{entry}` names no host"),
            "*" => HostPattern::Any,
            h if h.starts_with("*.") => HostPattern::Subdomains(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => bail!("`{entry}`: `*` may only stand for the whole host or a leading label"),
            h => HostPattern::Exact(h.to_ascii_lowercase()),
        };
        let port = match port {
            None => {
                if scheme != "*" && default_port(scheme).is_none() {
                    bail!("`{entry}`: scheme `{scheme}` has no well-known port: give one");
                }
                PortPattern::SchemeDefault
            }
            Some("*") => PortPattern::Any,
            Some(p) if p.contains("..") => {
                let (a, b) = p.split_once("..").unwrap();
                let (a, b) = (a.parse().with_context(|| format!("`{entry}`: bad port range"))?, b.parse().with_context(|| format!("`{entry}`: bad port range"))?);
                PortPattern::Range(a, b)
            }
            Some(p) => PortPattern::Exact(p.parse().with_context(|| format!("`{entry}`: bad port `{p}`"))?),
        };
        let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
        Ok(AllowedHost { scheme, host, port })
    }

    /// Whether `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = match &self.scheme {
            None => true,
            Some(s) => s == scheme || (is_postgres(s) && is_postgres(scheme)),
        };
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Subdomains(suffix) => host.ends_with(suffix.as_str()) && host.len() > suffix.len(),
            HostPattern::Exact(h) => *h == host,
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(a, b) => (a..b).contains(&port),
            PortPattern::Exact(p) => p == port,
            PortPattern::SchemeDefault => default_port(scheme) == Some(port),
        };
        scheme_ok && host_ok && port_ok
    }
}

fn is_postgres(scheme: &str) -> bool {
    scheme == "postgres" || scheme == "postgresql"
}

/// Whether a connection URL (`postgres://user:pass@host:port/db`) may be opened under `allowed`.
/// An address that is not such a URL is never allowed.
pub fn url_allowed(allowed: &[AllowedHost], url: &str) -> bool {
    let Some((scheme, rest)) = url.trim().split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        return false;
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => return false,
        },
        None => match default_port(&scheme) {
            Some(p) => p,
            None => return false,
        },
    };
    allowed.iter().any(|a| a.allows(&scheme, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> Vec<AllowedHost> {
        entries.iter().map(|e| AllowedHost::parse(e).unwrap()).collect()
    }

    #[test]
    fn exact_host_and_port() {
        let a = allowed(&["postgres://localhost:5432"]);
        assert!(url_allowed(&a, "postgres://u:p@localhost:5432/db"));
        assert!(url_allowed(&a, "postgres://u@localhost/db"), "no port: the scheme's default");
        assert!(url_allowed(&a, "postgresql://u@LOCALHOST:5432/db"));
        assert!(!url_allowed(&a, "postgres://u@localhost:5433/db"));
        assert!(!url_allowed(&a, "postgres://u@otherhost:5432/db"));
        assert!(!url_allowed(&a, "mysql://u@localhost:5432/db"));
        assert!(!url_allowed(&a, "host=localhost user=u"));
        assert!(!url_allowed(&[], "postgres://localhost/db"));
    }

    #[test]
    fn wildcards() {
        let a = allowed(&["*://*.example.com:*"]);
        assert!(url_allowed(&a, "postgres://db.example.com:1234/x"));
        assert!(!url_allowed(&a, "postgres://example.com:1234/x"));
        let a = allowed(&["postgres://*"]);
        assert!(url_allowed(&a, "postgres://anything/x"));
        assert!(!url_allowed(&a, "postgres://anything:1/x"));
        let a = allowed(&["postgres://db:5000..5010"]);
        assert!(url_allowed(&a, "postgres://db:5005/x"));
        assert!(!url_allowed(&a, "postgres://db:5010/x"));
        let a = allowed(&["postgres://[::1]:5432"]);
        assert!(url_allowed(&a, "postgres://u@[::1]:5432/x"));
    }

    #[test]
    fn bad_entries() {
        assert!(AllowedHost::parse("localhost:5432").is_err());
        assert!(AllowedHost::parse("custom://host").is_err());
        assert!(AllowedHost::parse("postgres://h:x").is_err());
        assert!(AllowedHost::parse("postgres://h/path").is_err());
    }
}
