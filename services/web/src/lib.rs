//! The server-rendered portal. For now, the front page; the pages of each capability come
//! with it (see the web portal issue).

use axum::response::Html;

pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Medgrid</title></head>
<body>
<main>
<h1>Medgrid</h1>
<p>Run medical image processing applications on compute resources you never have to learn,
and get the results back in your own and your group's spaces.</p>
<p>The API is at <a href="/graphql">/graphql</a>.</p>
</main>
</body>
</html>
"#;
