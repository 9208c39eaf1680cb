// Sends pageviews, custom events and an identify call to crumbless with the real
// @umami/node client, exactly as a site's server would; prints each answer as JSON.
// Usage: node umami_client.js HOST_URL WEBSITE_ID
'use strict';
const { Umami } = require('@umami/node');

const [hostUrl, websiteId] = process.argv.slice(2);
const umami = new Umami({ hostUrl, websiteId });

async function answer(sent) {
  const response = await sent;
  return { status: response.status, body: await response.json() };
}

(async () => {
  const answers = [];
  answers.push(await answer(umami.track({
    hostname: 'example.com', url: '/pricing?utm_source=newsletter&session=abc',
    referrer: 'https://news.example/item?id=1', title: 'Pricing plans', language: 'en-US',
    screen: '1920x1080',
  })));
  answers.push(await answer(umami.track({
    hostname: 'example.com', url: '/pricing', name: 'signup', data: { plan: 'pro', seats: 3 },
  })));
  answers.push(await answer(umami.track('newsletter', { list: 'weekly' })));
  answers.push(await answer(umami.identify({ email: 'alice@example.com' })));
  console.log(JSON.stringify(answers));
})().catch((error) => {
  console.error(String(error));
  process.exit(1);
});
