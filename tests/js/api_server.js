import { createServer } from 'node:http';

/**
 * A real HTTP server standing in for the usage-data API. It records the events of each
 * request and gives the answers in `answers` in turn, repeating the last one.
 */
export async function startApi(answers = [{ status: 200 }]) {
  const requests = [];
  const waiting = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const answer = answers[Math.min(requests.length, answers.length - 1)];
      requests.push(JSON.parse(body).events);
      response.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
      response.end(JSON.stringify(answer.body ?? { results: [] }));
      for (const waiter of waiting.filter((w) => requests.length >= w.count)) waiter.resolve();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/api/v4/usage_data/track_events`,
    requests,
    /** Resolves once `count` requests have arrived. */
    received: (count) =>
      requests.length >= count ? Promise.resolve() : new Promise((resolve) => waiting.push({ count, resolve })),
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}
