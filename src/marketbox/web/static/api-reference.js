// Starts Swagger UI on /docs (web/reference.py) over the document named by the page. A file of
// our own origin, not an inline script: the page's Content-Security-Policy allows no inline code.
// Swagger UI's bundle is served by us (/docs/assets/); nothing here reaches another origin:
// the validator badge (validator.swagger.io) is off.
(function () {
  'use strict';
  var root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.getAttribute('data-openapi-url'),
    dom_id: '#swagger-ui',
    layout: 'BaseLayout',
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
  });
})();
