// Starts Swagger UI on the server's own OpenAPI document. A token typed into "Authorize" is
// sent as `Authorization: Bearer <token>`.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#ui",
    deepLinking: true,
    persistAuthorization: true,
  });
});
