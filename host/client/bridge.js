// The fake Forge bridge for the local host. Loaded into each app frame before its bundle, as the
// real host's bridge is: @forge/bridge reads window.__bridge.callBridge when it is imported.
(function () {
  var frame = window.__COUNTERSIGN_FRAME__;

  async function post(path, body) {
    var response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    var json = await response.json();
    if (!response.ok) throw new Error((json && json.message) || 'The local host answered ' + response.status);
    return json;
  }

  // Like the real host: the colour mode goes on <html>, and the design tokens come as CSS variables.
  function enableTheming() {
    var root = document.documentElement;
    root.setAttribute('data-color-mode', frame.theme);
    root.setAttribute('data-theme', frame.theme + ':' + frame.theme);
    if (!document.querySelector('link[data-tokens]')) {
      var link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = '/host/tokens.css';
      link.setAttribute('data-tokens', '');
      document.head.appendChild(link);
    }
    return true;
  }

  window.__bridge = {
    callBridge: async function (name, payload) {
      switch (name) {
        case 'getContext':
          return frame.context;
        case 'enableTheming':
          return enableTheming();
        case 'invoke':
          return post('/host/api/invoke', { frame: frame.token, functionKey: payload.functionKey, payload: payload.payload });
        case 'fetchProduct':
          if (payload.product !== 'bitbucket') throw new Error('The local host only answers Bitbucket requests');
          return post('/host/api/product', { restPath: payload.restPath, method: payload.fetchRequestInit.method, body: payload.fetchRequestInit.body });
        default:
          return undefined;
      }
    },
  };
})();
