//! The login page, logging in and out.

use super::*;

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub name: String,
    pub password: String,
    pub lang: Option<String>,
}

pub(super) async fn login_page(Query(q): Query<LangQuery>) -> Html<String> {
    Html(login_html(q.is_en(), None))
}

/// Why the last attempt failed, for the login page.
#[derive(Debug, Clone, Copy)]
enum LoginFailure {
    Wrong,
    TooMany,
}

fn login_html(en: bool, failed: Option<LoginFailure>) -> String {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let (switch, label) = if en { ("zh", "中文") } else { ("en", "English") };
    let mut b = format!("<main class=login><h1>{}</h1>", t("区县出入数据", "District gate data"));
    let msg = match failed {
        None => None,
        Some(LoginFailure::Wrong) => Some(t("用户名或密码不对。", "Wrong name or password.")),
        Some(LoginFailure::TooMany) => {
            Some(t("尝试次数过多，请一分钟后再试。", "Too many attempts; wait a minute and try again."))
        }
    };
    if let Some(m) = msg {
        let _ = write!(b, "<p class=error role=alert>{m}</p>");
    }
    let _ = write!(
        b,
        "<form method=post action=/login><input type=hidden name=lang value={}>\
         <label>{}<input id=login-name name=name autocomplete=username required autofocus></label>\
         <label>{}<input id=login-password name=password type=password autocomplete=current-password required></label>\
         <button type=submit>{}</button></form><p><a href='/login?lang={switch}'>{label}</a></p></main>",
        if en { "en" } else { "zh" },
        t("用户名", "Name"),
        t("密码", "Password"),
        t("登录", "Log in")
    );
    page(en, t("登录 · 区县出入数据", "Log in · District gate data"), &b)
}

pub(super) async fn login(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let en = f.lang.as_deref() == Some("en");
    let ip_key = format!("ip:{}", peer.ip());
    let name_key = format!("name:{}", f.name.trim());
    let keys = [ip_key.as_str(), name_key.as_str()];
    if s.logins.blocked(&keys) {
        return Ok((StatusCode::TOO_MANY_REQUESTS, Html(login_html(en, Some(LoginFailure::TooMany)))).into_response());
    }
    let user = lock(&s)?.user(f.name.trim())?;
    let ok = match &user {
        Some((role, hash)) => auth::verify_password(&f.password, hash) && role == "district",
        None => {
            auth::dummy_password_check(&f.password);
            false
        }
    };
    if !ok {
        s.logins.failed(&keys);
        return Ok((StatusCode::UNAUTHORIZED, Html(login_html(en, Some(LoginFailure::Wrong)))).into_response());
    }
    s.logins.succeeded(&keys);
    let token = auth::new_token();
    let expires = Utc::now().timestamp_millis() + SESSION_HOURS * 3_600_000;
    lock(&s)?.add_session(&auth::token_hash(&token), f.name.trim(), expires)?;
    let c = kit::set_cookie(SESSION_COOKIE, &token, SESSION_HOURS * 3600);
    Ok(([(header::SET_COOKIE, c)], Redirect::to(if en { "/?lang=en" } else { "/" })).into_response())
}

pub(super) async fn logout(State(s): State<Shared>, headers: HeaderMap) -> Result<Response, WebError> {
    if let Some(tok) = cookie(&headers, SESSION_COOKIE) {
        lock(&s)?.end_session(&auth::token_hash(tok))?;
    }
    let c = kit::set_cookie(SESSION_COOKIE, "", 0);
    Ok(([(header::SET_COOKIE, c)], Redirect::to("/login")).into_response())
}
