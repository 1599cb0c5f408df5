//! A visit through a referral link: who it is (bot or person), what it carries (UTM and ad
//! click parameters), and where it goes (always a destination the program stored).

use url::Url;

/// User agents that fetch links without a person behind them: crawlers, link previewers,
/// mail scanners and HTTP libraries. Their clicks are recorded but never qualify.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "preview",
    "facebookexternalhit",
    "facebookcatalog",
    "whatsapp",
    "telegram",
    "discord",
    "slack",
    "skypeuripreview",
    "embedly",
    "vkshare",
    "pinterest",
    "redditbot",
    "applebot",
    "bingpreview",
    "google-inspectiontool",
    "headlesschrome",
    "lighthouse",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "httpclient",
    "axios/",
    "node-fetch",
    "undici",
    "postman",
    "proofpoint",
    "mimecast",
    "barracuda",
    "safelinks",
    "microsoft office",
    "ms-office",
    "outlook",
    "symantec",
    "trendmicro",
    "zscaler",
    "scanner",
    "monitor",
    "uptime",
    "pingdom",
];

/// Why a click cannot create a referral by itself, if it cannot.
pub fn unqualified_reason(method_is_head: bool, user_agent: &str) -> Option<&'static str> {
    if method_is_head {
        return Some("head_request");
    }
    let ua = user_agent.trim().to_ascii_lowercase();
    if ua.is_empty() {
        return Some("no_user_agent");
    }
    if BOT_MARKERS.iter().any(|m| ua.contains(m)) {
        return Some("bot");
    }
    None
}

/// The query parameters a click keeps: UTM tags and ad-platform click ids.
pub const KEPT_PARAMS: &[&str] = &[
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "ttclid",
    "li_fat_id",
    "twclid",
];

/// The kept parameters of a query string, each value cut to 200 characters.
pub fn kept_params(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else { return Vec::new() };
    url::form_urlencoded::parse(q.as_bytes())
        .filter(|(k, _)| KEPT_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| {
            (
                k.into_owned(),
                v.chars().filter(|c| !c.is_control()).take(200).collect(),
            )
        })
        .collect()
}

/// The redirect target: the stored destination with `vouch_ref`, the click id and the kept
/// parameters appended. Nothing from the request can change the scheme, host or path.
pub fn destination_with(
    dest: &Url,
    code: &str,
    click_id: &str,
    params: &[(String, String)],
) -> Url {
    let mut url = dest.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("vouch_ref", code);
        q.append_pair("vouch_click", click_id);
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url
}

/// A destination a program may store: absolute http(s), a host, no credentials, no fragment
/// tricks. Checked when the program is saved, so the redirect never has to.
pub fn parse_destination(input: &str) -> Result<Url, crate::Invalid> {
    let invalid = |m: &str| crate::Invalid::new("destinations", m.to_string());
    let url = Url::parse(input.trim())
        .map_err(|_| invalid("use a full address such as https://shop.example.com/"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("a destination starts with https:// (or http://)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("a destination needs a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "a destination cannot carry a user name or password",
        ));
    }
    Ok(url)
}

/// A visitor's address as Vouch keeps it: a salted hash (the salt is the workspace's own), never
/// the address itself.
pub fn ip_hash(salt: &str, ip: &str) -> String {
    crate::secret::sha256_hex(&format!("{salt}{ip}"))[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_previewers_and_scanners_are_unqualified() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(unqualified_reason(false, chrome), None);
        assert_eq!(unqualified_reason(true, chrome), Some("head_request"));
        assert_eq!(unqualified_reason(false, ""), Some("no_user_agent"));
        for ua in [
            "Googlebot/2.1",
            "facebookexternalhit/1.1",
            "WhatsApp/2.23",
            "Slackbot-LinkExpanding 1.0",
            "curl/8.0",
            "Mozilla/5.0 (compatible; Microsoft Office SafeLinks)",
            "TelegramBot (like TwitterBot)",
            "python-requests/2.31",
        ] {
            assert_eq!(unqualified_reason(false, ua), Some("bot"), "{ua}");
        }
    }

    #[test]
    fn only_known_params_are_kept() {
        let p = kept_params(Some(
            "utm_source=newsletter&to=https://evil.example&gclid=abc&x=1",
        ));
        assert_eq!(
            p,
            vec![
                ("utm_source".into(), "newsletter".into()),
                ("gclid".into(), "abc".into())
            ]
        );
    }

    #[test]
    fn destination_keeps_its_own_query() {
        let d = Url::parse("https://shop.example.com/welcome?lang=fr").unwrap();
        let u = destination_with(&d, "ANNA10", "c123", &[("utm_source".into(), "x y".into())]);
        assert_eq!(
            u.as_str(),
            "https://shop.example.com/welcome?lang=fr&vouch_ref=ANNA10&vouch_click=c123&utm_source=x+y"
        );
    }

    #[test]
    fn destinations_are_checked_when_stored() {
        assert!(parse_destination("https://shop.example.com/").is_ok());
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "https://user:pw@shop.example.com/",
            "ftp://x.example",
            "/relative",
            "data:text/html,x",
        ] {
            assert!(parse_destination(bad).is_err(), "{bad}");
        }
    }
}
