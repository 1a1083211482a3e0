//! The browser dashboard: a static page, a script and a stylesheet compiled into the binary
//! (the site runs on a factory LAN: no CDN, no internet). The page asks for a token and talks
//! only to this server's API (and, in a cluster, to the other instances' health, to follow a
//! failover).

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../dashboard/index.html");
const SCRIPT: &str = include_str!("../../dashboard/app.js");
const WAITS: &str = include_str!("../../dashboard/waits.js");
const I18N: &str = include_str!("../../dashboard/i18n.js");
const STYLE: &str = include_str!("../../dashboard/style.css");
const ICON: &str = include_str!("../../dashboard/icon.svg");

/// Only this server's own scripts, styles and API; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the dashboard page.
pub(super) async fn index(
    axum::extract::State(shared): axum::extract::State<std::sync::Arc<crate::state::Shared>>,
) -> Response {
    match &shared.term {
        Some(t) => page(&t.lease.members().await.unwrap_or_default()),
        None => asset("text/html; charset=utf-8", INDEX),
    }
}

/// The dashboard page of an instance of a cluster whose `members` the page may reach (only
/// their `/healthz`, to find where to go when this instance stops answering).
pub(crate) fn page(members: &[crate::lease::Member]) -> Response {
    let mut connect = String::from("'self'");
    for m in members {
        let a = &m.who.http_address;
        // host:port as configured; anything else could break out of the header
        if !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
        {
            connect.push_str(&format!(" http://{a}/healthz https://{a}/healthz"));
        }
    }
    let csp = CSP.replace("connect-src 'self'", &format!("connect-src {connect}"));
    let mut response = asset("text/html; charset=utf-8", INDEX);
    if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// `GET /dashboard/app.js`.
pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /dashboard/waits.js`: explained waits in words and as arrows.
pub(super) async fn waits() -> Response {
    asset("text/javascript; charset=utf-8", WAITS)
}

/// `GET /dashboard/i18n.js`: the dashboard's words in English and Simplified Chinese.
pub(super) async fn i18n() -> Response {
    asset("text/javascript; charset=utf-8", I18N)
}

/// `GET /dashboard/style.css`.
pub(super) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /dashboard/icon.svg` (also answers `/favicon.ico`).
pub(super) async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}
