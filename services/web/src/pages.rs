//! The few pages of sign-in, rendered on the server. Everything shown is escaped.

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
<title>{title} · Medgrid</title></head>
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

/// The front page: who is signed in, or the way to sign in.
pub fn front(signed_in: Option<(&str, &str, &str)>, csrf: &str) -> String {
    let who = match signed_in {
        Some((name, email, tenant)) => format!(
            r#"<p id="who">Signed in as <strong>{}</strong> ({}) at {}.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{}"><button type="submit">Sign out</button></form>"#,
            escape(name),
            escape(email),
            escape(tenant),
            escape(csrf)
        ),
        None => r#"<p><a href="/login">Sign in</a></p>"#.to_owned(),
    };
    layout(
        "Medgrid",
        &format!(
            r#"<h1>Medgrid</h1>
<p>Run medical image processing applications on compute resources you never have to learn,
and get the results back in your own and your group's spaces.</p>
{who}
<p>The API is at <a href="/graphql">/graphql</a>.</p>"#
        ),
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
        let page = front(Some(("<b>Eve</b>", "e@x.org", "T")), "c");
        assert!(page.contains("&lt;b&gt;Eve&lt;/b&gt;"));
        assert!(!page.contains("<b>Eve"));
    }
}
