//! Spin's HTTP routing: which component answers a path, and the `spin-*` request headers.
//!
//! Routes are exact (`/cats`), end in a wildcard (`/cats/...`, which also matches `/cats`), or
//! have `:name` segments (`/users/:id`). When several match, the most specific wins: comparing
//! segment by segment, a literal beats a `:name`, which beats the wildcard; at equal segments an
//! exact route beats a wildcard one (`/cats` over `/cats/...` for `/cats`), and among wildcards
//! the longest prefix wins. A single trailing `/` of the path is tolerated, as Spin's router
//! does. Routes are prefixed by `[application.trigger.http] base`. Private routes are not
//! routable; a route listed twice goes to its last component, as in Spin.

use std::cmp::Ordering;
use std::net::SocketAddr;

use anyhow::bail;
use tracing::warn;

#[derive(Debug, Clone)]
pub struct Router {
    /// Most specific first.
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    component: String,
    /// The route with the base, as `spin-matched-route` shows it.
    based_route: String,
    /// The route as written in the manifest.
    raw_route: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
        }
    }
}

/// The result of routing one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'r> {
    pub component: &'r str,
    based_route: &'r str,
    raw_route: &'r str,
    /// `:name` captures, in route order.
    pub captures: Vec<(&'r str, String)>,
    /// `spin-path-info`: the part of the path the trailing wildcard matched.
    pub path_info: String,
}

impl Router {
    /// `routes`: (route, component) in manifest order; `None` routes are private.
    pub fn build<'a>(base: &str, routes: impl IntoIterator<Item = (Option<&'a str>, &'a str)>) -> anyhow::Result<Router> {
        let mut built: Vec<Route> = Vec::new();
        for (route, component) in routes {
            let Some(raw) = route else { continue };
            let based_route = format!("{}{}", strip_one_slash(base), strip_one_slash(&absolutize(raw)));
            let (pattern, wildcard) = match based_route.strip_suffix("/...").or_else(|| based_route.strip_suffix("/*")) {
                Some(prefix) => (prefix.to_owned(), true),
                None => (based_route.clone(), false),
            };
            let mut segments = Vec::new();
            for part in pattern.split('/').skip(1) {
                if let Some(name) = part.strip_prefix(':') {
                    if name.is_empty() {
                        bail!("route `{raw}` of component `{component}`: `:` needs a name");
                    }
                    segments.push(Segment::Param(name.to_owned()));
                } else if part.contains("...") || part.contains('*') {
                    bail!("route `{raw}` of component `{component}`: a wildcard may only end a route (`/...`)");
                } else {
                    segments.push(Segment::Literal(part.to_owned()));
                }
            }
            let entry = Route { component: component.to_owned(), based_route, raw_route: raw.to_owned(), segments, wildcard };
            if let Some(existing) = built.iter_mut().find(|r| r.raw_route == entry.raw_route) {
                warn!(route = %entry.raw_route, replaced = %existing.component, effective = %entry.component, "duplicate route: the last component listed answers it");
                *existing = entry;
            } else {
                built.push(entry);
            }
        }
        built.sort_by(specificity);
        Ok(Router { routes: built })
    }

    /// The most specific route matching `path` (no query string), if any.
    pub fn route<'r>(&'r self, path: &str) -> Option<RouteMatch<'r>> {
        let trailing_slash = path.len() > 1 && path.ends_with('/');
        let trimmed = if trailing_slash { &path[..path.len() - 1] } else { path };
        let parts: Vec<&str> = match trimmed.strip_prefix('/') {
            Some("") | None => Vec::new(),
            Some(rest) => rest.split('/').collect(),
        };
        self.routes.iter().find_map(|route| route.matches(&parts, path.ends_with('/')))
    }

    /// The component names in routing order (for diagnostics).
    #[cfg(test)]
    fn order(&self) -> Vec<&str> {
        self.routes.iter().map(|r| r.raw_route.as_str()).collect()
    }
}

impl Route {
    fn matches<'r>(&'r self, parts: &[&str], trailing_slash: bool) -> Option<RouteMatch<'r>> {
        if parts.len() < self.segments.len() || (!self.wildcard && parts.len() != self.segments.len()) {
            return None;
        }
        let mut captures = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Param(name) if !part.is_empty() => captures.push((name.as_str(), (*part).to_owned())),
                _ => return None,
            }
        }
        let path_info = if self.wildcard {
            let rest = parts[self.segments.len()..].join("/");
            match (rest.is_empty(), trailing_slash) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some(RouteMatch { component: &self.component, based_route: &self.based_route, raw_route: &self.raw_route, captures, path_info })
    }
}

/// Most specific first: segment ranks left to right; at a tie, the route without the wildcard.
fn specificity(a: &Route, b: &Route) -> Ordering {
    for (x, y) in a.segments.iter().zip(&b.segments) {
        match y.rank().cmp(&x.rank()) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    // One is a prefix of the other. A longer route's next segment outranks the other's
    // wildcard; an exact route beats the wildcard that matches nothing more.
    match a.segments.len().cmp(&b.segments.len()) {
        Ordering::Greater if b.wildcard => Ordering::Less,
        Ordering::Less if a.wildcard => Ordering::Greater,
        _ => a.wildcard.cmp(&b.wildcard),
    }
}

impl RouteMatch<'_> {
    /// Spin's request headers for this match, as Spin 3.6 sets them (they replace any the client
    /// sent under the same names).
    pub fn headers(&self, full_url: &str, client: Option<SocketAddr>) -> Vec<(String, String)> {
        let component_route = self.raw_route.strip_suffix("/...").unwrap_or(self.raw_route);
        let mut headers = vec![
            ("spin-path-info".to_owned(), self.path_info.clone()),
            ("spin-full-url".to_owned(), full_url.to_owned()),
            ("spin-matched-route".to_owned(), self.based_route.to_owned()),
            ("spin-base-path".to_owned(), "/".to_owned()),
            ("spin-raw-component-route".to_owned(), self.raw_route.to_owned()),
            ("spin-component-route".to_owned(), component_route.to_owned()),
        ];
        // Spin always sends it; without a socket address (never in practice) it is left out.
        if let Some(addr) = client {
            headers.push(("spin-client-addr".to_owned(), addr.to_string()));
        }
        for (name, value) in &self.captures {
            headers.push((format!("spin-path-match-{}", name.to_ascii_lowercase()), value.clone()));
        }
        headers
    }
}

fn absolutize(route: &str) -> String {
    if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    }
}

fn strip_one_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build("/", routes.iter().map(|(r, c)| (Some(*r), *c))).unwrap()
    }

    fn component<'r>(r: &'r Router, path: &str) -> Option<&'r str> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_and_wildcards() {
        let r = router(&[("/cats", "cats"), ("/cats/...", "cats-w"), ("/...", "ops"), ("/healthz", "ops-h")]);
        assert_eq!(component(&r, "/cats"), Some("cats"));
        assert_eq!(component(&r, "/cats/1"), Some("cats-w"));
        assert_eq!(component(&r, "/cats/1/2"), Some("cats-w"));
        assert_eq!(component(&r, "/healthz"), Some("ops-h"));
        assert_eq!(component(&r, "/nope"), Some("ops"));
        assert_eq!(component(&r, "/"), Some("ops"));
        assert_eq!(component(&r, "/catsx"), Some("ops"));
    }

    #[test]
    fn longest_prefix_wins_regardless_of_order() {
        for routes in [
            [("/one/...", "1"), ("/one/two/...", "2"), ("/one/two/three/...", "3")],
            [("/one/two/three/...", "3"), ("/one/two/...", "2"), ("/one/...", "1")],
        ] {
            let r = router(&routes);
            assert_eq!(component(&r, "/one/two/three/four"), Some("3"));
            assert_eq!(component(&r, "/one/two/x"), Some("2"));
            assert_eq!(component(&r, "/one"), Some("1"));
        }
    }

    #[test]
    fn wildcard_without_exact_matches_its_prefix() {
        let r = router(&[("/data/...", "data")]);
        assert_eq!(component(&r, "/data"), Some("data"));
        assert_eq!(component(&r, "/database"), None);
    }

    #[test]
    fn params() {
        let r = router(&[("/users/:id", "user"), ("/users/...", "users"), ("/users/me", "me"), ("/1/:two/...", "w")]);
        let m = r.route("/users/42").unwrap();
        assert_eq!(m.component, "user");
        assert_eq!(m.captures, [("id", "42".to_owned())]);
        assert_eq!(component(&r, "/users/me"), Some("me"));
        assert_eq!(component(&r, "/users/42/x"), Some("users"));
        assert_eq!(component(&r, "/users"), Some("users"), "a parameter never matches nothing");
        let m = r.route("/1/2/3").unwrap();
        assert_eq!((m.component, m.captures[0].1.as_str(), m.path_info.as_str()), ("w", "2", "/3"));
    }

    #[test]
    fn path_info_and_trailing_slashes() {
        let r = router(&[("/test/...", "t"), ("/exact", "e")]);
        let info = |p: &str| r.route(p).unwrap().path_info;
        assert_eq!(info("/test"), "");
        assert_eq!(info("/test/"), "/");
        assert_eq!(info("/test/hello"), "/hello");
        assert_eq!(info("/test/hello/"), "/hello/");
        assert_eq!(component(&r, "/exact/"), Some("e"), "Spin's router tolerates one trailing slash");
        let all = router(&[("/...", "all")]);
        assert_eq!(all.route("/1/2/3").unwrap().path_info, "/1/2/3");
        assert_eq!(all.route("/").unwrap().path_info, "/");
    }

    #[test]
    fn base_private_and_duplicates() {
        let r = Router::build("/base/", [(Some("/foo"), "foo"), (None, "private"), (Some("/foo"), "second")]).unwrap();
        assert_eq!(component(&r, "/base/foo"), Some("second"));
        assert_eq!(component(&r, "/foo"), None);
        assert_eq!(r.order().len(), 1);
        assert!(Router::build("/", [(Some("/a/.../b"), "x")]).is_err());
    }

    #[test]
    fn headers() {
        let r = router(&[("/foo/:userid/...", "c")]);
        let m = r.route("/foo/42/bar").unwrap();
        let h = m.headers("http://h/foo/42/bar?x=1", Some("127.0.0.1:8777".parse().unwrap()));
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("spin-path-info"), Some("/bar"));
        assert_eq!(get("spin-full-url"), Some("http://h/foo/42/bar?x=1"));
        assert_eq!(get("spin-matched-route"), Some("/foo/:userid/..."));
        assert_eq!(get("spin-raw-component-route"), Some("/foo/:userid/..."));
        assert_eq!(get("spin-component-route"), Some("/foo/:userid"));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:8777"));
        assert_eq!(get("spin-path-match-userid"), Some("42"));
    }

    #[test]
    fn the_projects_routes() {
        let m = super::super::manifest::Manifest::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml")).unwrap();
        let r = Router::build(&m.base, m.triggers.iter().map(|t| (t.route.as_deref(), t.component.as_str()))).unwrap();
        for (path, expected) in [
            ("/cats", "cats"),
            ("/cats/abc", "cats"),
            ("/cats/", "cats"),
            ("/passengers/1", "passengers"),
            ("/passengerlist", "passengers"),
            ("/getpassenger/3", "passengers"),
            ("/search", "configs"),
            ("/configs/dc-1", "configs"),
            ("/data", "data"),
            ("/data/x", "data"),
            ("/users/u", "users"),
            ("/healthz", "ops"),
            ("/readyz", "ops"),
            ("/openapi.json", "ops"),
            ("/nothing/here", "ops"),
            ("/", "ops"),
        ] {
            assert_eq!(component(&r, path), Some(expected), "{path}");
        }
    }
}
