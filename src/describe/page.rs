//! The `/docs` page: Swagger UI 5.35.0 (assets/swagger-ui, Apache-2.0), embedded in the binary
//! so it works offline, showing the OpenAPI document of the gateway that serves it; its "try
//! it" requests go to that same gateway.

use bytes::Bytes;

const BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const STYLES: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const LICENSE: &[u8] = include_bytes!("../../assets/swagger-ui/LICENSE");
const NOTICE: &[u8] = include_bytes!("../../assets/swagger-ui/NOTICE");
const BUNDLED_LICENSES: &[u8] =
    include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.LICENSE.txt");

/// The page and its files under `/docs`, with their content types; `None` for other paths.
pub(super) fn asset(path: &str, prefix: &str) -> Option<(&'static str, Bytes)> {
    let text = "text/plain; charset=utf-8";
    Some(match path {
        "/docs" => ("text/html; charset=utf-8", Bytes::from(html(prefix))),
        "/docs/swagger-ui-bundle.js" => {
            ("text/javascript; charset=utf-8", Bytes::from_static(BUNDLE))
        }
        "/docs/swagger-ui.css" => ("text/css; charset=utf-8", Bytes::from_static(STYLES)),
        "/docs/LICENSE" => (text, Bytes::from_static(LICENSE)),
        "/docs/NOTICE" => (text, Bytes::from_static(NOTICE)),
        "/docs/swagger-ui-bundle.js.LICENSE.txt" => (text, Bytes::from_static(BUNDLED_LICENSES)),
        _ => return None,
    })
}

fn html(prefix: &str) -> String {
    // The prefix was checked at load: letters, digits and `/-._~` only.
    PAGE.replace("{PREFIX}", prefix)
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>polygate API</title>
<link rel="stylesheet" href="{PREFIX}/docs/swagger-ui.css">
<style>body { margin: 0; } .polygate-links { font: 14px sans-serif; padding: 8px 20px; background: #1b1b1b; color: #ddd; } .polygate-links a { color: #8fd; margin-right: 16px; }</style>
</head>
<body>
<div class="polygate-links">polygate &mdash;
<a href="{PREFIX}/openapi.json">openapi.json</a>
<a href="{PREFIX}/openapi.yaml">openapi.yaml</a>
<a href="{PREFIX}/asyncapi.json">asyncapi.json</a>
<a href="{PREFIX}/docs/LICENSE">Swagger UI 5.35.0, Apache-2.0</a></div>
<div id="swagger-ui"></div>
<script src="{PREFIX}/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "{PREFIX}/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: true,
  displayOperationId: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
</script>
</body>
</html>
"##;
