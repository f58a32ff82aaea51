/* early.js: loaded by index.html before the bundle (a plain, synchronous
 * script of its own: the CSP allows no inline script). On the overview
 * (`#/`) it starts the page's first two requests, GET /api/v1/node and the
 * streams list's first page (GET /api/v1/streams?limit=50, as main.js's
 * listInTwo() asks), and reads their bodies, while the bundle still loads;
 * api.js request() takes each answer once (window.weirEarly, keyed by method
 * and path: a promise of {resp, text}) instead of asking again. Holds nothing else; runs once on the page's main thread.
 */
(function () {
    'use strict';
    var hash = window.location.hash;
    if (hash && hash !== '#' && hash !== '#/')
        return;
    var token = null;
    try {
        token = window.sessionStorage.getItem('weir.token'); /* api.js TOKEN_KEY */
    } catch (e) {
        token = null;
    }
    var headers = { Accept: 'application/json' };
    if (token)
        headers.Authorization = 'Bearer ' + token;
    var early = {};
    ['/api/v1/node', '/api/v1/streams?limit=50'].forEach(function (path) {
        /* the body is read here too, while the bundle still loads: api.js gets
         * {resp, text} and has nothing left to wait for */
        var p = window.fetch(path, { method: 'GET', headers: headers, cache: 'no-store', credentials: 'omit' })
            .then(function (resp) {
                return resp.text().then(function (text) {
                    return { resp: resp, text: text };
                });
            });
        p.catch(function () {}); /* a failure is api.js's to report when it takes it */
        early['GET ' + path] = p;
    });
    window.weirEarly = early;
})();
