//! The quote page the message links to, and the return from WeChat's web authorization
//! that gives it the owner's nickname and avatar.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, USER_AGENT};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::figures::{not_found, order_context, shop_context};
use crate::http::extract::Query;
use crate::http::limit::Throttle;
use crate::http::web::Web;
use crate::quote::{Domain, authorization};
use crate::sandbox::IN_WECHAT_COOKIE;
use crate::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/quote", get(show_quote_page))
        .route("/oauth/callback", get(oauth_callback))
}

#[derive(Deserialize)]
struct QuoteLink {
    openid: Option<String>,
    order_id: Option<String>,
    sig: Option<String>,
}

/// The message's link. Anything short of a valid signature is simply not found, so the
/// page gives nothing away about which orders or users exist. Limited per client: an
/// open inside WeChat may start a web authorization, which writes a row.
async fn show_quote_page(
    _: Throttle,
    State(domain): State<Domain>,
    State(web): State<Web>,
    headers: HeaderMap,
    Query(link): Query<QuoteLink>,
) -> Result<Response, AppError> {
    let (Some(openid), Some(order_id), Some(sig)) = (link.openid, link.order_id, link.sig) else {
        return not_found(&domain, &web).await;
    };
    let digits = !order_id.is_empty() && order_id.bytes().all(|b| b.is_ascii_digit());
    let Some(order_id) = order_id.parse::<i64>().ok().filter(|id| digits && *id > 0) else {
        return not_found(&domain, &web).await;
    };
    if openid.len() > 64 || !domain.links.verify(&openid, order_id, &sig) {
        return not_found(&domain, &web).await;
    }
    let order = match domain.orders.find(order_id).await {
        Ok(order) => order,
        Err(AppError::NotFound) => return not_found(&domain, &web).await,
        Err(e) => return Err(e),
    };
    let profile = domain.profiles.for_openid(&openid).await;
    // Inside WeChat, a page without the owner's nickname asks once for web authorization
    // (the only source of nickname and avatar left); never again in this browser if the
    // user declines, and never for anyone once the owner's profile is known.
    if profile.nickname.is_none() && in_wechat(&web, &headers) && !has_cookie(&headers, OAUTH_TRIED)
    {
        let authorize = authorization::begin(&domain, &openid, order_id).await?;
        let cookie = format!("{OAUTH_TRIED}=1; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax");
        return Ok(([(SET_COOKIE, cookie)], Redirect::to(&authorize)).into_response());
    }
    let page = web.pages.render(
        "quote.html",
        context! {
            order => order_context(&order),
            nickname => profile.nickname.clone(),
            avatar_url => profile.avatar_url.clone(),
            base_url => domain.base_url.as_str(),
            shop => shop_context(&*domain.shop.current().await?),
        },
    )?;
    Ok(([(CACHE_CONTROL, "private, no-store")], page).into_response())
}

const OAUTH_TRIED: &str = "sq_oauth_tried";

fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().split_once('=').is_some_and(|(n, _)| n == name))
}

/// Is the page being opened inside WeChat (its in-app browser says `MicroMessenger`;
/// in sandbox mode, the sandbox phone's browser marks itself with a cookie)?
fn in_wechat(web: &Web, headers: &HeaderMap) -> bool {
    let ua = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ua.contains("MicroMessenger") || (web.sandbox() && has_cookie(headers, IN_WECHAT_COOKIE))
}

#[derive(Deserialize)]
struct OauthReturn {
    code: Option<String>,
    state: Option<String>,
}

/// Where WeChat sends the user back after the authorize page.
async fn oauth_callback(
    State(domain): State<Domain>,
    State(web): State<Web>,
    Query(back): Query<OauthReturn>,
) -> Result<Response, AppError> {
    let Some(param) = back.state else {
        return not_found(&domain, &web).await;
    };
    match authorization::finish(&domain, &param, back.code.as_deref()).await {
        Ok((openid, order_id, outcome)) => {
            tracing::info!(?outcome, "web authorization finished");
            let back = domain.links.quote_url(&domain.base_url, &openid, order_id);
            Ok(Redirect::to(&back).into_response())
        }
        Err(AppError::NotFound) => not_found(&domain, &web).await,
        Err(e) => Err(e),
    }
}
