//! Who is calling: the client's IP, believing `X-Forwarded-For` only from trusted proxies.

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

/// The client's IP address as text ("" when unknown, e.g. in-process tests).
pub fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let Some(peer) = peer else {
        return String::new();
    };
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return peer.to_string();
    }
    // Walk the chain from the right: the first address not a trusted proxy is the client.
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted.iter().any(|n| n.contains(*ip)))
        .copied()
        .unwrap_or(peer)
        .to_string()
}

/// The user agent, for session lists.
pub fn user_agent(parts: &Parts) -> String {
    parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, xff: Option<&str>) -> Parts {
        let mut b = Request::builder();
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        let (mut p, _) = b.body(()).unwrap().into_parts();
        p.extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        p
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(&parts("203.0.113.9:1", Some("1.2.3.4")), &trusted),
            "203.0.113.9"
        );
        assert_eq!(
            client_ip(&parts("10.0.0.2:1", Some("1.2.3.4, 10.0.0.7")), &trusted),
            "1.2.3.4"
        );
        assert_eq!(client_ip(&parts("10.0.0.2:1", None), &trusted), "10.0.0.2");
        assert_eq!(
            client_ip(&parts("10.0.0.2:1", Some("garbage")), &trusted),
            "10.0.0.2"
        );
    }
}
