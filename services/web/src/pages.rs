//! The pages of someone not signed in (sign-in, the front page). Everything shown is
//! escaped.

use std::fmt::Write as _;

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Medgrid</title>
<link rel="stylesheet" href="/static/portal.css"></head>
<body>
<main>
{body}
</main>
</body>
</html>
"#,
        title = escape(title)
    )
}

/// One institution on the chooser page.
pub struct Choice {
    pub href: String,
    pub label: String,
}

/// What the sign-in page shows.
pub struct SignIn<'a> {
    pub choices: &'a [Choice],
    pub csrf: &'a str,
    pub next: &'a str,
    pub error: Option<&'a str>,
    pub tenant: &'a str,
    pub email: &'a str,
}

pub fn sign_in(page: &SignIn<'_>) -> String {
    let mut body = String::from("<h1>Sign in to Medgrid</h1>\n");
    if let Some(error) = page.error {
        let _ = writeln!(body, r#"<p role="alert" id="error">{}</p>"#, escape(error));
    }
    if !page.choices.is_empty() {
        body.push_str("<h2>With your institution</h2>\n<ul id=\"institutions\">\n");
        for choice in page.choices {
            let _ = writeln!(
                body,
                r#"<li><a href="{}">{}</a></li>"#,
                escape(&choice.href),
                escape(&choice.label)
            );
        }
        body.push_str("</ul>\n");
    }
    let _ = write!(
        body,
        r#"<h2>With a Medgrid account</h2>
<form method="post" action="/login/local">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<p><label for="tenant">Institution (short name)</label><br><input id="tenant" name="tenant" value="{tenant}" required autocomplete="organization"></p>
<p><label for="email">E-mail</label><br><input id="email" name="email" type="email" value="{email}" required autocomplete="username"></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" required autocomplete="current-password"></p>
<p><button type="submit">Sign in</button></p>
</form>
"#,
        csrf = escape(page.csrf),
        next = escape(page.next),
        tenant = escape(page.tenant),
        email = escape(page.email),
    );
    layout("Sign in", &body)
}

/// The front page of someone not signed in.
pub fn front() -> String {
    layout(
        "Medgrid",
        r#"<h1>Medgrid</h1>
<p>Run medical image processing applications on compute resources you never have to learn,
and get the results back in your own and your group's spaces.</p>
<p><a href="/login">Sign in</a></p>"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_shown_as_text() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        let page = layout("<b>Eve</b>", "");
        assert!(page.contains("&lt;b&gt;Eve&lt;/b&gt;"));
        assert!(!page.contains("<b>Eve"));
    }
}
