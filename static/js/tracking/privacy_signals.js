/**
 * The browser's privacy signals (Global Privacy Control, Do Not Track), named in the API URL too:
 * the server then honours them even where a proxy strips the `Sec-GPC` and `DNT` headers.
 * Events are still sent, for the anonymous counts; the server sends none of them to Snowplow.
 */
export function withPrivacySignals(url, nav) {
  const signals = [];
  if (nav?.globalPrivacyControl === true) signals.push('gpc');
  if (nav?.doNotTrack === '1') signals.push('dnt');
  if (!signals.length) return url;
  return `${url}${url.includes('?') ? '&' : '?'}privacy_signals=${signals.join(',')}`;
}
