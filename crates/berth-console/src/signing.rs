//! Signing in (with a key pair or a user's console password) and out.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use berth_server::sign_in;

use crate::pages::{self, SignInForm};
use crate::session::{self, Session, COOKIE, LIFETIME_SECS, SIGN_IN_COOKIE};
use crate::signed_out;
use crate::web::*;
use crate::Console;

pub(crate) async fn sign_in_page(
    State(c): State<Arc<Console>>,
    extensions: Extensions,
) -> Response {
    let nonce = session::nonce();
    let page = pages::sign_in(
        &SignInForm::default(),
        &c.sealer.csrf(&nonce),
        &c.region,
        None,
    );
    with_cookie(
        html(StatusCode::OK, page),
        session::set_cookie(SIGN_IN_COOKIE, &nonce, 3600, over_tls(&extensions)),
    )
}

pub(crate) async fn sign_in_submit(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<SignInForm>,
) -> Response {
    let tls = over_tls(&extensions);
    let nonce = cookie_of(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !c.sealer.csrf_matches(nonce, &form.csrf) {
        return forbidden();
    }
    let region = if form.region.trim().is_empty() {
        c.region.clone()
    } else {
        form.region.trim().to_string()
    };
    let who = if form.method == "key" {
        sign_in::with_key(&c.front, form.access_key_id.trim(), &form.secret_access_key).await
    } else {
        sign_in::with_password(&c.front, form.user_name.trim(), &form.password).await
    };
    match who {
        Ok(who) => {
            let s = Session {
                who,
                region,
                issued: now_millis(),
                expires: now() + LIFETIME_SECS,
                nonce: session::nonce(),
            };
            let r = Redirect::to("/console/clusters").into_response();
            let r = with_cookie(
                r,
                session::set_cookie(COOKIE, &c.sealer.seal(&s), LIFETIME_SECS, tls),
            );
            with_cookie(r, session::set_cookie(SIGN_IN_COOKIE, "", 0, tls))
        }
        Err(e) => html(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(&form, &form.csrf, &c.region, Some(e.message())),
        ),
    }
}

pub(crate) async fn sign_out(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<CsrfForm>,
) -> Response {
    let r = match signed_in(&c, &headers, &extensions).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = check_csrf(&c, &r, &form.csrf) {
        return refused.into_response();
    }
    let store = &*c.front.core.store;
    if let Err(e) =
        signed_out::record(store, &c.front.core.account, &r.session.who, now_millis()).await
    {
        return Refusal::Store(e.to_string()).into_response();
    }
    to_sign_in(true, over_tls(&extensions))
}
