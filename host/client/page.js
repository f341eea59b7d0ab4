// Controls of the local host's own pages: acting user, theme, Merge, Push a commit, frame heights.
(function () {
  async function post(path, body) {
    var response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    var json = await response.json();
    if (!response.ok) throw new Error((json && json.message) || 'HTTP ' + response.status);
    return json;
  }

  var user = document.getElementById('acting-user');
  user.addEventListener('change', async function () {
    await post('/host/api/session', { accountId: user.value });
    location.reload();
  });

  var theme = document.getElementById('theme-toggle');
  theme.addEventListener('click', async function () {
    await post('/host/api/session', { theme: document.documentElement.getAttribute('data-color-mode') === 'dark' ? 'light' : 'dark' });
    location.reload();
  });

  var pr = document.querySelector('main.pr');
  if (pr) {
    var target = { workspace: pr.dataset.workspace, repository: pr.dataset.repository, pullRequest: Number(pr.dataset.pullRequest) };
    var result = document.getElementById('merge-result');
    var show = function (tone, title, message) {
      result.className = 'merge-result ' + tone;
      result.innerHTML = '';
      var strong = document.createElement('strong');
      strong.textContent = title;
      var text = document.createElement('p');
      text.textContent = message;
      text.setAttribute('data-testid', 'merge-message');
      result.append(strong, text);
    };
    // Bitbucket's two steps: Merge shows the merge checks; only when they pass can the merge be confirmed.
    document.getElementById('merge').addEventListener('click', async function () {
      try {
        var answer = await post('/host/api/merge', Object.assign({ confirm: false }, target));
        if (!answer.check.success) return show('danger', 'Merge blocked by the Countersign merge check.', answer.check.message);
        show('success', 'All merge checks passed.', answer.check.message);
        var confirm = document.createElement('button');
        confirm.type = 'button';
        confirm.className = 'primary';
        confirm.textContent = 'Confirm merge';
        confirm.addEventListener('click', async function () {
          var merged = await post('/host/api/merge', Object.assign({ confirm: true }, target));
          if (merged.merged) return location.reload();
          show('danger', 'Merge blocked by the Countersign merge check.', merged.check.message);
        });
        result.append(confirm);
      } catch (error) {
        show('danger', 'Could not merge.', error.message);
      }
    });
    document.getElementById('push-commit').addEventListener('click', async function () {
      try {
        await post('/host/api/push', target);
        location.reload();
      } catch (error) {
        show('danger', 'Could not push.', error.message);
      }
    });
  }

  // Bitbucket sizes app frames to their content; the frames here are same-origin, so read it directly.
  // Measured on the body: the root element's scrollHeight is never less than the frame's own height,
  // so a frame sized by it could grow (a confirmation opened) but never shrink back (Cancel).
  setInterval(function () {
    document.querySelectorAll('iframe.forge-app').forEach(function (frame) {
      var doc = frame.contentDocument;
      if (!doc || !doc.body) return;
      var height = Math.max(120, doc.body.offsetHeight) + 'px';
      if (frame.style.height !== height) frame.style.height = height;
    });
  }, 150);
})();
