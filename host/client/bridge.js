// The fake Forge bridge for the local host. Loaded into each app frame before its bundle, as the
// real host's bridge is: @forge/bridge reads window.__bridge.callBridge when it is imported.
//
// The frame is served from another site than the page (as Forge serves Custom UI from its own CDN),
// so it holds no credentials: resolver and Bitbucket calls are posted to the embedding page, which
// makes them for the signed-in account. Only messages from that page, at its origin, are answered.
(function () {
  var frame = window.__COUNTERSIGN_FRAME__;
  var pending = new Map();
  var nextId = 1;

  window.addEventListener('message', function (event) {
    var data = event.data;
    if (event.source !== window.parent || event.origin !== frame.hostOrigin || !data || data.countersign !== 'reply') return;
    var call = pending.get(data.id);
    if (!call) return;
    pending.delete(data.id);
    if (data.ok) call.resolve(data.value);
    else call.reject(new Error(data.message || 'The local host did not answer'));
  });

  function callHost(name, body) {
    return new Promise(function (resolve, reject) {
      var id = nextId++;
      pending.set(id, { resolve: resolve, reject: reject });
      window.parent.postMessage({ countersign: 'call', id: id, name: name, body: body }, frame.hostOrigin);
    });
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

  // Bitbucket sizes app frames to their content; the page cannot look inside this frame, so tell it.
  var lastHeight = 0;
  setInterval(function () {
    // The body's height: the root element's scrollHeight is never less than the frame's own height, so a
    // frame sized by it could grow (a confirmation opened) but never shrink back (Cancel).
    var height = document.body ? document.body.offsetHeight : 0;
    if (height === lastHeight) return;
    lastHeight = height;
    window.parent.postMessage({ countersign: 'resize', height: height }, frame.hostOrigin);
  }, 150);

  window.__bridge = {
    callBridge: async function (name, payload) {
      switch (name) {
        case 'getContext':
          return frame.context;
        case 'enableTheming':
          return enableTheming();
        case 'invoke':
          return callHost('invoke', { functionKey: payload.functionKey, payload: payload.payload });
        case 'fetchProduct':
          if (payload.product !== 'bitbucket') throw new Error('The local host only answers Bitbucket requests');
          return callHost('product', { restPath: payload.restPath, method: payload.fetchRequestInit.method, body: payload.fetchRequestInit.body });
        default:
          return undefined;
      }
    },
  };
})();
