//! The login page, logging in and out.

use super::*;

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub name: String,
    pub password: String,
    pub lang: Option<String>,
    /// The page asked for before the login; only a path on this site is kept.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub lang: Option<String>,
    pub next: Option<String>,
}

pub(super) async fn login_page(Query(q): Query<LoginQuery>) -> Html<String> {
    let next = q.next.as_deref().and_then(web::safe_next);
    Html(login_html(q.lang.as_deref() == Some("en"), None, next))
}

/// Why the last attempt failed, for the login page.
#[derive(Debug, Clone, Copy)]
enum LoginFailure {
    Wrong,
    TooMany,
    /// An empty or absurdly long name or password: refused before hashing.
    Absurd,
    /// The password thread's queue is full (a login storm).
    Busy,
}

fn login_html(en: bool, failed: Option<LoginFailure>, next: Option<&str>) -> String {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let (switch, label) = if en { ("zh", "中文") } else { ("en", "English") };
    let mut b = format!("<main class=login><h1>{}</h1>", t("区县出入数据", "District gate data"));
    let msg = match failed {
        None => None,
        Some(LoginFailure::Wrong) => Some(t("用户名或密码不对。", "Wrong name or password.")),
        Some(LoginFailure::TooMany) => {
            Some(t("尝试次数过多，请一分钟后再试。", "Too many attempts; wait a minute and try again."))
        }
        Some(LoginFailure::Absurd) => Some(t(
            "用户名须为 1 到 64 字节，密码最多 256 字节。",
            "A name has 1 to 64 bytes and a password at most 256.",
        )),
        Some(LoginFailure::Busy) => {
            Some(t("同时登录的人太多，请稍后再试。", "Too many logins at once; try again in a moment."))
        }
    };
    if let Some(m) = msg {
        let _ = write!(b, "<p class=error role=alert>{m}</p>");
    }
    let (next_input, next_query) = match next {
        Some(n) => {
            (format!("<input type=hidden name=next value='{}'>", html_escape(n)), format!("&next={}", url_encode(n)))
        }
        None => (String::new(), String::new()),
    };
    let _ = write!(
        b,
        "<form method=post action=/login><input type=hidden name=lang value={}>{next_input}\
         <label>{}<input id=login-name name=name autocomplete=username required autofocus></label>\
         <label>{}<input id=login-password name=password type=password autocomplete=current-password required></label>\
         <button type=submit>{}</button></form><p><a href='/login?lang={switch}{}'>{label}</a></p></main>",
        if en { "en" } else { "zh" },
        t("用户名", "Name"),
        t("密码", "Password"),
        t("登录", "Log in"),
        html_escape(&next_query),
    );
    page(en, t("登录 · 区县出入数据", "Log in · District gate data"), &b)
}

pub(super) async fn login(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, WebError> {
    let Form(f) = form.map_err(|rej| rejection(rej.status(), rej.body_text()))?;
    let en = f.lang.as_deref() == Some("en");
    let next = f.next.as_deref().and_then(web::safe_next);
    let failed =
        |status: StatusCode, why: LoginFailure| Ok((status, Html(login_html(en, Some(why), next))).into_response());
    let name = f.name.trim();
    let ip_key = format!("ip:{}", peer.ip());
    // absurd input is refused before it costs a hash or a limiter entry of its own
    if name.is_empty() || name.len() > web::MAX_NAME_BYTES || f.password.len() > web::MAX_PASSWORD_BYTES {
        s.logins.failed(&[ip_key.as_str()]);
        return failed(StatusCode::BAD_REQUEST, LoginFailure::Absurd);
    }
    let name_key = format!("name:{name}");
    let keys = [ip_key.as_str(), name_key.as_str()];
    if s.logins.blocked(&keys) {
        return failed(StatusCode::TOO_MANY_REQUESTS, LoginFailure::TooMany);
    }
    let user = lock(&s)?.user(name)?;
    // argon2 on the one low-priority password thread, never on the workers
    // that serve the pages; an unknown name costs the same work
    let worker =
        web::PasswordWorker::shared().map_err(|_| WebError::Internal("the password thread did not start".into()))?;
    let matched = match worker.verify(&f.password, user.as_ref().map(|(_, h)| h.as_str())).await {
        Ok(m) => m,
        Err(web::passwords::PasswordError::Busy) => return failed(StatusCode::TOO_MANY_REQUESTS, LoginFailure::Busy),
        Err(web::passwords::PasswordError::Stopped) => {
            return Err(WebError::Internal("the password thread has stopped".into()))
        }
    };
    if !(matched && user.is_some_and(|(role, _)| role == "district")) {
        s.logins.failed(&keys);
        return failed(StatusCode::UNAUTHORIZED, LoginFailure::Wrong);
    }
    s.logins.succeeded(&keys);
    let token = auth::new_token();
    let max_age_s = SESSION_HOURS * 3600;
    let expires = Utc::now().timestamp_millis().saturating_add(i64::try_from(max_age_s * 1000).unwrap_or(i64::MAX));
    lock(&s)?.add_session(&auth::token_hash(&token), name, expires)?;
    let c = web::session_cookie(SESSION_COOKIE, &token, max_age_s);
    // only a path on this site: `/login?next=//evil.example` goes home
    let to = next.unwrap_or(if en { "/?lang=en" } else { "/" });
    Ok(([(header::SET_COOKIE, c)], Redirect::to(to)).into_response())
}

pub(super) async fn logout(State(s): State<Shared>, headers: HeaderMap) -> Result<Response, WebError> {
    if let Some(tok) = cookie(&headers, SESSION_COOKIE) {
        lock(&s)?.end_session(&auth::token_hash(tok))?;
    }
    let c = web::session_cookie(SESSION_COOKIE, "", 0);
    Ok(([(header::SET_COOKIE, c)], Redirect::to("/login")).into_response())
}
