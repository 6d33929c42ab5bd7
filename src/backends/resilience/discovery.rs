//! DNS re-resolution: the host name of each configured URL resolved to its addresses, each
//! address one endpoint (a Kubernetes headless service lists its pods this way).

use http::uri::{Scheme, Uri};

/// One resolved endpoint: its URL with the address in place of the host name, and the name
/// TLS verifies (`https` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) url: String,
    pub(crate) server_name: Option<String>,
}

/// Resolves the host of `url`; a URL naming an address is returned as it is.
pub(crate) async fn resolve(url: &str) -> Result<Vec<Resolved>, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("url '{url}' is not a valid URL: {e}"))?;
    let tls = uri.scheme() == Some(&Scheme::HTTPS);
    let authority = uri
        .authority()
        .ok_or_else(|| format!("url '{url}' has no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(vec![Resolved {
            url: url.to_owned(),
            server_name: None,
        }]);
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let scheme = if tls { "https" } else { "http" };
    let rest = uri.path_and_query().map_or("", |p| p.as_str());
    let rest = if rest == "/" && !url.ends_with('/') {
        ""
    } else {
        rest
    };
    let mut resolved: Vec<Resolved> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolving '{host}': {e}"))?
        .map(|addr| Resolved {
            url: format!("{scheme}://{addr}{rest}"),
            server_name: tls.then(|| host.to_owned()),
        })
        .collect();
    resolved.sort_by(|a, b| a.url.cmp(&b.url));
    resolved.dedup();
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_become_addresses_and_addresses_stay() {
        let resolved = resolve("http://localhost:7000/base?x=1").await.unwrap();
        assert!(resolved
            .iter()
            .any(|r| r.url == "http://127.0.0.1:7000/base?x=1"));
        assert!(resolved.iter().all(|r| r.server_name.is_none()));
        let tls = resolve("https://localhost:7443").await.unwrap();
        assert!(tls
            .iter()
            .any(|r| r.url == "https://127.0.0.1:7443"
                && r.server_name.as_deref() == Some("localhost")));
        assert_eq!(
            resolve("http://10.0.0.1:80").await.unwrap(),
            vec![Resolved {
                url: "http://10.0.0.1:80".into(),
                server_name: None
            }]
        );
    }
}
