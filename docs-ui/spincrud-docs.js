// Renders the API's own OpenAPI document (GET /openapi.json, same origin) with "try it out"
// enabled, so each operation can be executed from the page against this server.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout",
    // No call to validator.swagger.io: the page talks to this server only.
    validatorUrl: null,
  });
});
