// login.js: the login form. Posts name + password/PIN, then goes to `next`
// (a local path only) or to the page for the role.
'use strict';
(function () {
  const GP = window.GP;

  // Only a path on this site: never "//other.host" or "https://...".
  function nextPath() {
    const n = new URLSearchParams(location.search).get('next');
    return n && n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/\\') ? n : null;
  }

  const home = (role) => nextPath() || (role === 'committee' ? '/committee' : '/guard');

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
        { name: name.value.trim(), password: document.getElementById('login-password').value },
        { noRedirect: true }
      );
      btn.disabled = false;
      if (r.ok) {
        location.href = home(r.data.role);
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
