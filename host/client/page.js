// Controls of the local host's own pages: acting user, theme, reset, Merge, Decline, Push a commit,
// Require passing builds, the PR page's builds kept current, the Pipelines page's deploy steps (the
// gate's answer shown in place), and the host side of the app frames' bridge (their calls, their heights).
(function () {
  var frameOrigin = document.body.dataset.frameOrigin;
  var reloading = false;

  function reload() {
    if (reloading) return;
    reloading = true;
    location.reload();
  }

  async function post(path, body) {
    var response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    var json = await response.json();
    // The host says this page is out of date (another account signed in since, or the host was reset).
    if (json && json.reload) {
      reload();
      return new Promise(function () {});
    }
    if (!response.ok) throw new Error((json && json.message) || 'HTTP ' + response.status);
    return json;
  }

  // Other tabs of this host reload when one of them switches account or resets the demo.
  var tabs = 'BroadcastChannel' in window ? new BroadcastChannel('countersign-local-host') : null;
  if (tabs) tabs.onmessage = reload;
  function changedEverywhere() {
    if (tabs) tabs.postMessage('changed');
    reload();
  }

  var user = document.getElementById('acting-user');
  user.addEventListener('change', async function () {
    await post('/host/api/session', { accountId: user.value });
    changedEverywhere();
  });

  document.getElementById('reset-demo').addEventListener('click', async function () {
    if (!confirm('Reset the demo? Every policy, enrolled key, signature and pushed commit is forgotten.')) return;
    await post('/host/api/reset', {});
    changedEverywhere();
  });

  // The app frames are another origin: they post their calls here, and only our own frames, at the
  // frames' origin, are answered, each with the frame token the host gave that frame.
  function frameOf(source) {
    var frames = document.querySelectorAll('iframe.forge-app');
    for (var i = 0; i < frames.length; i++) if (frames[i].contentWindow === source) return frames[i];
    return null;
  }
  window.addEventListener('message', async function (event) {
    var data = event.data;
    var iframe = event.origin === frameOrigin ? frameOf(event.source) : null;
    if (!iframe || !data) return;
    if (data.countersign === 'resize') {
      var height = Math.max(120, Number(data.height) || 0) + 'px';
      if (iframe.style.height !== height) iframe.style.height = height;
      return;
    }
    if (data.countersign !== 'call' || (data.name !== 'invoke' && data.name !== 'product')) return;
    var token = new URL(iframe.src).searchParams.get('frame');
    var reply;
    try {
      reply = { ok: true, value: await post('/host/api/' + data.name, Object.assign({}, data.body, { frame: token })) };
    } catch (error) {
      reply = { ok: false, message: error.message };
    }
    event.source.postMessage(Object.assign({ countersign: 'reply', id: data.id }, reply), frameOrigin);
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
    var mergeButton = document.getElementById('merge');
    if (mergeButton) mergeButton.addEventListener('click', async function () {
      try {
        var answer = await post('/host/api/merge', Object.assign({ confirm: false }, target));
        var blocked = answer.gate === 'builds' ? 'Merge blocked: passing builds are required.' : 'Merge blocked by the Countersign merge check.';
        if (!answer.check.success) return show('danger', blocked, answer.check.message);
        show('success', 'All merge checks passed.', answer.check.message);
        var confirm = document.createElement('button');
        confirm.type = 'button';
        confirm.className = 'primary';
        confirm.textContent = 'Confirm merge';
        confirm.addEventListener('click', async function () {
          var merged = await post('/host/api/merge', Object.assign({ confirm: true }, target));
          if (merged.merged) return location.reload();
          show('danger', blocked, merged.check.message);
        });
        result.append(confirm);
      } catch (error) {
        show('danger', 'Could not merge.', error.message);
      }
    });
    var pushButton = document.getElementById('push-commit');
    if (pushButton) pushButton.addEventListener('click', async function () {
      try {
        await post('/host/api/push', target);
        location.reload();
      } catch (error) {
        show('danger', 'Could not push.', error.message);
      }
    });
    var decline = document.getElementById('decline');
    if (decline) decline.addEventListener('click', async function () {
      if (!confirm('Decline this pull request? It will be closed without merging.')) return;
      try {
        await post('/host/api/decline', target);
        location.reload();
      } catch (error) {
        show('danger', 'Could not decline.', error.message);
      }
    });
    var requireBuilds = document.getElementById('require-builds');
    requireBuilds.addEventListener('change', async function () {
      try {
        var answer = await post('/host/api/builds-required', { workspace: target.workspace, repository: target.repository, required: requireBuilds.checked });
        requireBuilds.checked = answer.requirePassingBuilds;
        result.className = '';
        result.innerHTML = '';
      } catch (error) {
        requireBuilds.checked = !requireBuilds.checked;
        show('danger', 'Could not change the merge checks.', error.message);
      }
    });

    // The app posts statuses and merges in the background (its triggers and queue consumer): keep the
    // builds current in place, and reload when the pull request is closed (by auto-merge, say).
    var builds = document.getElementById('build-list');
    var lastBuilds = null;
    setInterval(async function () {
      if (document.hidden || reloading) return;
      try {
        var now = await post('/host/api/pull-request', target);
        if (now.state !== pr.dataset.state) return reload();
        if (now.builds !== lastBuilds) {
          lastBuilds = now.builds;
          builds.innerHTML = now.builds;
        }
      } catch (error) {
        // The host is restarting, or this page is out of date: the next tick tries again.
      }
    }, 1000);
  }

  var pipelines = document.querySelector('main.pipelines');
  if (pipelines) {
    var line = function (tag, text, testid) {
      var el = document.createElement(tag);
      el.textContent = text;
      if (testid) el.setAttribute('data-testid', testid);
      return el;
    };
    // What the step's log would say: the gate's status and answer, then whether the step deployed.
    var showStep = function (box, step) {
      box.innerHTML = '';
      var gate = step.gate;
      var allowed = gate && gate.status === 200;
      box.className = 'gate-answer merge-result ' + (!gate ? 'warning' : allowed ? 'success' : 'danger');
      box.dataset.pipeline = String(step.pipeline.buildNumber);
      var ref = step.ref.type + ' ' + step.ref.name;
      var title = !gate
        ? 'Pipeline #' + step.pipeline.buildNumber + ' deployed ' + step.commit.slice(0, 7) + ' (' + ref + ') without asking Countersign.'
        : 'Pipeline #' + step.pipeline.buildNumber + ', ' + ref + ' at ' + step.commit.slice(0, 7) + ': the gate answered ' + gate.status + (allowed ? ' (allowed).' : ' (refused).');
      box.append(line('strong', title, 'gate-status'));
      if (gate) {
        box.append(line('p', gate.body.message || '', 'gate-message'));
        if (gate.body.code) box.append(line('p', 'Code: ' + gate.body.code, 'gate-code'));
        var missing = gate.body.missing || [];
        if (missing.length) {
          box.append(line('p', 'Missing:'));
          var list = document.createElement('ul');
          list.setAttribute('data-testid', 'gate-missing');
          missing.forEach(function (m) { list.append(line('li', m)); });
          box.append(list);
        }
        var approvers = (gate.body.approvedBy || []).map(function (a) { return a.name || a.accountId; });
        if (approvers.length) box.append(line('p', 'Approved by ' + approvers.join(', '), 'gate-approved-by'));
      }
      box.append(line('p', step.deployed ? 'The step deployed; the environment is marked deployed at ' + step.commit.slice(0, 7) + '.' : 'The gate failed the step: nothing was deployed.', 'step-outcome'));
      var flagged = step.events.some(function (e) { return e.outcome && e.outcome.flagged; });
      if (flagged) box.append(line('p', 'Countersign flagged this deployment: it ran without an allowing answer from the gate (see the audit log).', 'step-flagged'));
    };
    pipelines.querySelectorAll('section.environment').forEach(function (section) {
      var box = section.querySelector('.gate-answer');
      section.querySelectorAll('button.run-step').forEach(function (button) {
        button.addEventListener('click', async function () {
          var kind = section.querySelector('select.ref').value;
          var ref = kind === 'tag' ? { type: 'tag', name: section.querySelector('input.tag').value } : { type: 'branch', name: 'main' };
          var buttons = section.querySelectorAll('button');
          buttons.forEach(function (b) { b.disabled = true; });
          try {
            var step = await post('/host/api/pipelines/run', { workspace: pipelines.dataset.workspace, repository: pipelines.dataset.repository, environment: section.dataset.environment, ref: ref, gate: button.dataset.gate === 'true' });
            showStep(box, step);
            var deployed = section.querySelector('[data-testid="deployed"]');
            if (step.deployed) deployed.textContent = section.dataset.name + ': ' + step.commit.slice(0, 7) + ' (' + step.ref.type + ' ' + step.ref.name + '), deployed by ' + document.getElementById('acting-user').selectedOptions[0].textContent;
          } catch (error) {
            box.className = 'gate-answer merge-result danger';
            box.innerHTML = '';
            box.append(line('strong', 'Could not run the step.'), line('p', error.message, 'gate-message'));
          } finally {
            buttons.forEach(function (b) { b.disabled = false; });
          }
        });
      });
    });
  }
})();
