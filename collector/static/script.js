/*
 * crumbless tracker: cookieless page views, SPA navigation, custom events, outbound
 * links, file downloads and engagement, posted to a crumbless collector.
 *
 * <script defer data-domain="example.com" src="https://collector.example/js/script.js">
 * data-api             where events go (default: this script's origin + /api/event)
 * data-hash            hash routing: a #fragment change is a page view, sent with h: 1
 * data-outbound-links  send "Outbound Link: Click" {url} for links to other hosts
 * data-file-downloads  send "File Download" {url} for links to common file types
 * data-allow-local     also send from localhost, 127.x, file: and automated browsers
 *
 * Wire format: the Plausible Events API (n, u, d, r, p, $, h, i) plus c (consent,
 * {analytics: bool}, absent when unknown), sd (scroll depth, percent) and e (engaged
 * ms) on "engagement" events. It never sets a cookie, never touches localStorage or
 * sessionStorage, and sends nothing when the browser says DNT or GPC.
 */
(function () {
  var win = window, doc = document, nav = navigator, loc = location;
  var script = doc.currentScript;
  if (!script) return;
  function attr(name) { return script.getAttribute('data-' + name); }
  function flag(name) { return attr(name) !== null; }

  var domain = attr('domain') || loc.hostname;
  var api = attr('api') || new URL(script.src).origin + '/api/event';
  var hashRouting = flag('hash');
  var local = /^(localhost|127(\.\d+){3}|\[::1\])$/.test(loc.hostname) || loc.protocol === 'file:';
  var optedOut = nav.doNotTrack === '1' || nav.globalPrivacyControl === true;
  var off = optedOut || ((local || nav.webdriver) && !flag('allow-local'));
  var FILE_TYPES = /\.(pdf|xlsx?|docx?|txt|rtf|csv|exe|key|pps|pptx?|7z|pkg|rar|gz|zip|avi|mov|mp4|mpeg|wmv|midi|mp3|wav|wma|dmg)$/i;

  // Consent: an explicit crumbless.consent() call, else the IAB TCF v2.2 CMP, else
  // Google Consent Mode's analytics_storage; undefined when no signal exists.
  var explicitConsent, tcfConsent, tcfListening = false;

  function listenToTcf() {
    if (tcfListening || typeof win.__tcfapi !== 'function') return;
    tcfListening = true;
    // TCF purpose 8 "Measure content performance" is what the visitor hash is for;
    // the tracker stores nothing on the device, so purpose 1 alone does not decide.
    win.__tcfapi('addEventListener', 2, function (data, ok) {
      if (ok && data && data.gdprApplies !== false &&
          (data.eventStatus === 'tcloaded' || data.eventStatus === 'useractioncomplete')) {
        tcfConsent = !!data.purpose?.consents?.[8];
      }
    });
  }

  function consentModeState() {
    var state;
    // gtag('consent', 'default' | 'update', {analytics_storage: ...}); a default for
    // named regions only is skipped: the browser cannot tell which region it is in.
    (win.dataLayer || []).forEach(function (command) {
      var storage = command?.[0] === 'consent' && command[2]?.analytics_storage;
      if (storage && !(command[1] === 'default' && command[2].region)) {
        state = storage === 'granted';
      }
    });
    return state;
  }

  function consentNow() {
    listenToTcf();
    if (explicitConsent !== undefined) return explicitConsent;
    if (tcfConsent !== undefined) return tcfConsent;
    return consentModeState();
  }

  function send(payload, callback) {
    var done = callback || function () {};
    if (off) return done();
    var analytics = consentNow();
    payload.d = domain;
    if (analytics !== undefined) payload.c = { analytics: analytics };
    if (hashRouting) payload.h = 1;
    // keepalive lets the request outlive the page (a click that navigates away, a
    // closed tab); credentials: 'omit' keeps the collector's cookies, if any, out of it.
    fetch(api, {
      method: 'POST', body: JSON.stringify(payload), keepalive: true, credentials: 'omit',
      headers: { 'Content-Type': 'text/plain' }
    }).then(function (response) {
      done({ status: response.status });
    }, function (error) {
      done({ error: error });
    });
  }

  // Engagement of the current page: deepest scroll (percent) and visible time (ms).
  var pageUrl, maxScroll = 0, sentScroll = -1, engagedMs = 0, visibleSince = 0;

  function scrollDepth() {
    var height = Math.max(doc.documentElement.scrollHeight, doc.body ? doc.body.scrollHeight : 0);
    var seen = Math.min(height, win.scrollY + win.innerHeight);
    return height ? Math.min(100, Math.round(seen / height * 100)) : 0;
  }

  function noteScroll() {
    var depth = scrollDepth();
    if (depth > maxScroll) maxScroll = depth;
  }

  function engagedNow() {
    return engagedMs + (visibleSince ? Date.now() - visibleSince : 0);
  }

  function sendEngagement() {
    if (!pageUrl) return;
    noteScroll();
    var engaged = engagedNow();
    if (maxScroll <= sentScroll && engaged < 3000) return;
    sentScroll = maxScroll;
    engagedMs = 0;
    if (visibleSince) visibleSince = Date.now();
    send({ n: 'engagement', u: pageUrl, sd: maxScroll, e: engaged, i: false });
  }

  function onVisibility() {
    if (doc.visibilityState === 'visible') {
      if (!visibleSince) visibleSince = Date.now();
    } else {
      engagedMs = engagedNow();
      visibleSince = 0;
      sendEngagement();
    }
  }

  function track(name, options) {
    options = options || {};
    var payload = { n: name, u: options.url || loc.href, r: doc.referrer || null };
    if (options.props) payload.p = options.props;
    if (options.revenue) payload.$ = options.revenue;
    if (options.interactive === false) payload.i = false;
    send(payload, options.callback);
  }

  var lastPage;
  function pageview() {
    var page = loc.pathname + (hashRouting ? loc.hash : '');
    if (page === lastPage) return;
    sendEngagement();
    lastPage = page;
    pageUrl = loc.href;
    maxScroll = 0;
    sentScroll = -1;
    engagedMs = 0;
    visibleSince = doc.visibilityState === 'visible' ? Date.now() : 0;
    noteScroll();
    track('pageview');
  }

  function linkClick(event) {
    if (event.type === 'auxclick' && event.button !== 1) return;
    var link = event.target.closest?.('a[href]');
    if (!link || !/^https?:$/.test(link.protocol)) return;
    // Query and fragment are cut, as the collector cuts them from page URLs.
    var url = link.href.split(/[?#]/)[0];
    if (flag('outbound-links') && link.host !== loc.host) {
      track('Outbound Link: Click', { props: { url: url } });
    } else if (flag('file-downloads') && FILE_TYPES.test(link.pathname)) {
      track('File Download', { props: { url: url } });
    }
  }

  // window.crumbless(name, {props, revenue, interactive, url, callback}) and
  // window.crumbless.consent({analytics: true | false}); calls queued before load run last.
  var queued = win.crumbless?.q || [];
  win.crumbless = track;
  track.consent = function (state) {
    var analytics = state?.analytics;
    explicitConsent = typeof analytics === 'boolean' ? analytics : undefined;
  };

  function wrapHistory(method) {
    var original = history[method];
    if (!original) return;
    history[method] = function () {
      var result = original.apply(this, arguments);
      pageview();
      return result;
    };
  }
  wrapHistory('pushState');
  wrapHistory('replaceState');
  win.addEventListener('popstate', pageview);
  if (hashRouting) win.addEventListener('hashchange', pageview);
  win.addEventListener('pageshow', function (event) {
    if (event.persisted) {
      lastPage = undefined;
      pageview();
    }
  });
  win.addEventListener('scroll', noteScroll, { passive: true });
  doc.addEventListener('visibilitychange', onVisibility);
  win.addEventListener('pagehide', sendEngagement);
  doc.addEventListener('click', linkClick);
  doc.addEventListener('auxclick', linkClick);

  // A page opened in a background tab (or prerendered) counts once it is seen.
  function firstView() {
    if (doc.visibilityState === 'visible' && !lastPage) pageview();
  }
  doc.addEventListener('visibilitychange', firstView);
  firstView();
  for (var i = 0; i < queued.length; i++) track.apply(null, queued[i]);
})();
