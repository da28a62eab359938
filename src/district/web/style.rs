//! The district pages' stylesheet, served as a file: the pages'
//! Content-Security-Policy (`style-src 'self'`) refuses inline styles.

use axum::http::header;
use axum::response::IntoResponse;

const CSS: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:0;color:#222;background:#f7f7f5;font-size:15px;line-height:1.5}\
header.top{display:flex;flex-wrap:wrap;gap:.3rem 1.4rem;align-items:center;padding:.55rem 1.5rem;background:#1f4e79;color:#fff}\
header.top strong{font-size:1.05rem;margin-right:.6rem}\
header.top a{color:#d6e4f2;text-decoration:none;padding:.15rem 0;border-bottom:2px solid transparent}\
header.top a:hover{color:#fff}header.top a.here{color:#fff;border-bottom-color:#fff;font-weight:600}\
header.top .right{margin-left:auto;display:flex;gap:1rem;align-items:center}\
header.top .user{color:#b9cde2}header.top form{margin:0}\
main{max-width:72rem;margin:0 auto;padding:.25rem 1.5rem 2rem}\
h1{font-size:1.35rem;margin:1rem 0 .4rem}h2{font-size:1.05rem;margin:1.3rem 0 .3rem}\
table{border-collapse:collapse;margin:.5rem 0 1rem;background:#fff}\
td,th{border:1px solid #d5d5d5;padding:.3rem .7rem;text-align:left;white-space:nowrap;line-height:1.6rem;vertical-align:middle}\
th{background:#e9eef3;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
table.wide{width:100%}td.detail{white-space:normal;overflow-wrap:anywhere;min-width:9rem}tr.total td{font-weight:600;background:#f1f1f1}tr.broken td{background:#fde2e2}tr.stale td{background:#fff3d0}\
.badge{display:inline-block;padding:0 .5rem;border-radius:.7rem;font-size:.85rem;border:1px solid}\
.badge.ok{color:#176f2c;border-color:#8cc79c;background:#e8f6ec}\
.badge.stale{color:#7a4f00;border-color:#e0b54a;background:#fff3d0}\
.badge.broken{color:#fff;background:#b3261e;border-color:#b3261e;font-weight:600}\
.badge.file{color:#444;background:#eee;border-color:#c8c8c8}\
.hot{color:#b3261e;font-weight:600}.tag{font-size:.8rem;color:#777;margin-left:.35rem}\
.note{color:#555;font-size:.9rem;max-width:62rem}.summary{margin:.3rem 0 .6rem}\
.empty{padding:.9rem 1rem;background:#fff;border:1px dashed #b5b5b5;color:#555;max-width:62rem}\
.error{color:#b3261e;font-weight:600}\
form.bar{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:.5rem 0}\
input,button{font:inherit}button{padding:.15rem .8rem}\
.charts{display:flex;flex-wrap:wrap;gap:1rem 1.5rem;align-items:flex-start}\
figure{margin:.5rem 0;background:#fff;border:1px solid #ddd;padding:.5rem .75rem}\
figcaption{font-weight:600;margin-bottom:.3rem}\
svg text{font-size:12px;fill:#333}svg .sub{font-size:11px;fill:#777}svg .grid{stroke:#e3e3e3}svg .axis{stroke:#999}\
main.login{max-width:22rem;margin:5rem auto;background:#fff;border:1px solid #ddd;padding:1rem 1.5rem}\
.login label{display:block;margin:.8rem 0}.login input{display:block;width:100%;padding:.35rem;margin-top:.25rem}\
.login button{padding:.35rem 1.6rem}";

pub(super) async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], CSS)
}
