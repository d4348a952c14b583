// @ts-nocheck: plain JavaScript that webpack/Rspack bundle in front of every entry (never run by Node).
// csp-seal/server puts each response's nonce on <meta property="csp-nonce">. Handing it to the webpack runtime
// (__webpack_nonce__) makes the <script> tags of lazy chunks and style-loader's <style> tags carry it.
// The semicolons are deliberate: bundlers may inline this module right before one that starts with "(".
var meta = document.querySelector('meta[property="csp-nonce"]');
if (meta && meta.nonce) __webpack_nonce__ = meta.nonce;
