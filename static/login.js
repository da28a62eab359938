// login.js: the login form. Posts name + password/PIN, then goes to `next`
// (a local path only) or to the page for the role.
'use strict';
(function () {
  const GP = window.GP;

  // The gate decides where to go after login: `next` if it is a path on
  // this site (never "//other.host", "/\t/other.host" or "https://..."),
  // else the page for the role. The answer's `next` is used as is.
  const home = (r) => (r.data && typeof r.data.next === 'string' ? r.data.next : '/guard');

  document.addEventListener('DOMContentLoaded', async () => {
    const form = document.getElementById('login-form');
    const err = document.getElementById('login-error');
    const name = document.getElementById('login-name');
    name.focus();
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      const r = await GP.api(
        'POST',
        '/api/v1/login',
        {
          name: name.value.trim(),
          password: document.getElementById('login-password').value,
          next: new URLSearchParams(location.search).get('next') || undefined,
        },
        { noRedirect: true }
      );
      btn.disabled = false;
      if (r.ok) {
        location.href = home(r);
      } else if (r.status === 401) {
        err.textContent = GP.t('login.wrong');
        document.getElementById('login-password').select();
      } else if (r.status === 429) {
        err.textContent = GP.t('login.limited');
      } else {
        err.textContent = GP.errorText(r);
      }
    });
  });
})();
