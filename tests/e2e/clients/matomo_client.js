// Sends hits to crumbless's /matomo.php with the real matomo-tracker client, as a site's
// server would: pageviews, an event, an outlink, a goal with revenue and a bulk request,
// each carrying Matomo's visitor-identifying parameters (which crumbless must discard).
// Usage: node matomo_client.js TRACKER_URL SITE_ID USER_AGENT
'use strict';
const MatomoTracker = require('matomo-tracker');

const [trackerUrl, siteId, userAgent] = process.argv.slice(2);
const matomo = new MatomoTracker(Number(siteId), trackerUrl);
const identifying = () => ({
  _id: '0123456789abcdef', uid: 'alice@example.com', cid: 'fedcba9876543210',
  cdt: '2020-01-02 03:04:05', cip: '203.0.113.77', _idts: '1577934245',
  _viewts: '1577934246', uadata: '{"model":"Pixel 7","platform":"Android"}',
});

// Hits travel concurrently, so any of them may open the visit: like a browser on a
// campaign landing page, each carries the same referrer and campaign parameter.
const page = (path) => `https://example.com${path}?mtm_campaign=spring`;
const urlref = 'https://search.example/?q=x';

let failed = false;
matomo.on('error', (error) => {
  console.error(`tracking request failed: ${error}`);
  failed = true;
});

matomo.track({
  url: page('/docs'), urlref, action_name: 'Documentation', ua: userAgent, ...identifying(),
});
matomo.track({
  url: page('/docs'), urlref, e_c: 'Video', e_a: 'Play', e_n: 'Intro', e_v: 12,
  ua: userAgent, send_image: 0, ...identifying(),
});
matomo.track({
  url: page('/docs'), urlref, link: 'https://partner.example/offer', ua: userAgent,
  ...identifying(),
});
matomo.trackBulk([
  { url: page('/thanks'), urlref, idgoal: 2, revenue: '49.90', ua: userAgent,
    ...identifying() },
  { url: page('/pricing'), urlref, ua: userAgent, ...identifying() },
  { url: page('/pricing'), urlref, ping: 1, ua: userAgent, ...identifying() },
], (body) => {
  console.log(body);
});

process.on('exit', () => {
  if (failed) process.exitCode = 1;
});
